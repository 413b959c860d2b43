"""Direct messages and mentions: knowledge answers with buttons, bots ignored, 429s waited out."""

from __future__ import annotations

from tests.bot.conftest import CHINESE, HOLDER, SlackHarness
from tests.support.fake_slack import BOT_ID, BOT_USER, dm


async def test_dm_question_gets_knowledge_answer_with_feedback_buttons(
    slack: SlackHarness,
) -> None:
    await slack.send.event(dm(HOLDER, "how do I find the CN of my certificate"))
    await slack.idle()
    [message] = slack.fake.messages_to(f"D{HOLDER}")
    assert "Open the certificate's Subject." in message.text
    assert [a.split("#")[0] for a in message.action_ids()] == ["helpful", "not_helpful"]


async def test_dm_in_chinese_is_answered_in_chinese(slack: SlackHarness) -> None:
    await slack.send.event(dm(HOLDER, "怎么更新证书"))
    await slack.idle()
    [message] = slack.fake.messages_to(f"D{HOLDER}")
    assert message.text.startswith("点击更新证书。")
    assert message.button("renew")["block_id"].startswith("certdesk:zh:")


async def test_greeting_gets_the_menu_in_the_users_language(slack: SlackHarness) -> None:
    await slack.send.event(dm(CHINESE, "?"))
    await slack.idle()
    [message] = slack.fake.messages_to(f"D{CHINESE}")
    assert "证书服务台" in message.text
    assert [a.split("#")[0] for a in message.action_ids()] == [
        "download",
        "renew",
        "my_certificates",
        "talk_to_ra",
    ]


async def test_unanswerable_question_offers_ra_staff_and_is_kept(slack: SlackHarness) -> None:
    await slack.send.event(dm(HOLDER, "what's the weather in Beijing"))
    await slack.idle()
    [message] = slack.fake.messages_to(f"D{HOLDER}")
    assert message.button("talk_to_ra")["value"] == "what's the weather in Beijing"
    [kept] = await slack.desk.unanswered.pending()
    assert kept.question == "what's the weather in Beijing"


async def test_own_and_other_bots_messages_are_ignored(slack: SlackHarness) -> None:
    await slack.send.event(dm(BOT_USER, "echo", bot_id=BOT_ID))
    await slack.send.event(dm("UOTHERBOT", "hello from another bot", bot_id="BOTHER"))
    await slack.send.event(dm(HOLDER, "relay", subtype="bot_message", bot_id="BOTHER"))
    await slack.idle()
    await slack.fake.settle(0.3)
    assert slack.fake.calls("chat.postMessage") == []


async def test_edits_and_other_subtypes_are_acknowledged_quietly(slack: SlackHarness) -> None:
    status, _ = await slack.send.event(dm(HOLDER, "x", subtype="message_changed"))
    assert status == 200
    await slack.idle()
    assert slack.fake.calls("chat.postMessage") == []


async def test_mention_is_answered_in_a_thread(slack: SlackHarness) -> None:
    event = {
        "type": "app_mention",
        "channel": "C0GENERAL",
        "user": HOLDER,
        "text": f"<@{BOT_USER}> how do I find the CN of my certificate?",
        "ts": "1700000000.000200",
        "event_ts": "1700000000.000200",
    }
    await slack.send.event(event)
    await slack.idle()
    [message] = slack.fake.messages_to("C0GENERAL")
    assert message.params["thread_ts"] == "1700000000.000200"
    assert "Open the certificate's Subject." in message.text
    assert slack.desk.questions.knowledge is not None
    assert slack.desk.questions.knowledge.asked == ["how do I find the CN of my certificate?"]  # type: ignore[attr-defined]


async def test_rate_limited_post_is_delivered_once_after_retry_after(slack: SlackHarness) -> None:
    slack.fake.fail_next("chat.postMessage", status=429, retry_after=1)
    await slack.send.event(dm(HOLDER, "how do I find the CN of my certificate"))
    await slack.idle()
    throttled = slack.fake.calls("chat.postMessage", ok=False)
    delivered = slack.fake.calls("chat.postMessage")
    assert [c.status for c in throttled] == [429]
    assert len(delivered) == 1
    assert delivered[0].at - throttled[0].at >= 1.0
