"""Talk to RA staff: a thread in the RA channel, relayed both ways until "Resolved"."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.settings import Settings
from tests.bot.conftest import HOLDER, OTHER, RA_CHANNEL, STAFF, SlackHarness, start_harness
from tests.support.fake_slack import FakeSlack, dm


def in_thread(channel: str, thread_ts: str, user: str, text: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "message",
        "channel": channel,
        "channel_type": "channel",
        "user": user,
        "text": text,
        "ts": f"{thread_ts[:-3]}999",
        "thread_ts": thread_ts,
        **extra,
    }


async def escalate(slack: SlackHarness, question: str = "my key is blocked") -> None:
    """The holder asks something the bot can't answer and presses "Talk to RA staff"."""
    await slack.send.event(dm(HOLDER, question))
    await slack.idle()
    message = slack.fake.messages_to(f"D{HOLDER}")[-1]
    await slack.send.click(message.button("talk_to_ra"), user=HOLDER, channel=f"D{HOLDER}")
    await slack.idle()
    assert len(slack.fake.messages_to(RA_CHANNEL)) == 1


async def thread_ts(slack: SlackHarness) -> str:
    [open_one] = await slack.desk.escalations.open_escalations()
    assert open_one.thread_ts is not None
    return open_one.thread_ts


async def test_escalation_round_trip_until_resolved(slack: SlackHarness) -> None:
    await escalate(slack)
    [posted] = slack.fake.messages_to(RA_CHANNEL)
    assert "<@U2> needs help" in posted.text
    assert "> my key is blocked" in posted.text
    assert "I've passed your question to RA staff" in slack.fake.messages_to(f"D{HOLDER}")[-1].text
    ts = await thread_ts(slack)

    await slack.send.event(in_thread(RA_CHANNEL, ts, STAFF, "Which key model do you have?"))
    await slack.idle()
    relayed = slack.fake.messages_to(f"D{HOLDER}")[-1]
    assert relayed.text == "*RA staff* (<@U1>): Which key model do you have?"

    await slack.send.event(dm(HOLDER, "A blue one"))
    await slack.idle()
    to_thread = slack.fake.messages_to(RA_CHANNEL)[-1]
    assert (to_thread.params["thread_ts"], to_thread.text) == (ts, "<@U2>: A blue one")

    await slack.send.click(posted.button("resolved"), user=STAFF, channel=RA_CHANNEL, message_ts=ts)
    await slack.idle()
    assert "marked your question as resolved" in slack.fake.messages_to(f"D{HOLDER}")[-1].text
    [update] = slack.fake.calls("chat.update")
    assert update.params["ts"] == ts
    assert "resolved" not in update.action_ids()
    assert "Resolved by <@U1>" in slack.fake.messages_to(RA_CHANNEL)[-1].text

    before = len(slack.fake.calls("chat.postMessage"))
    await slack.send.event(in_thread(RA_CHANNEL, ts, STAFF, "anything else?"))
    await slack.send.event(dm(HOLDER, "how do I find the CN of my certificate"))
    await slack.idle()
    after = slack.fake.calls("chat.postMessage")[before:]
    assert [c.params["channel"] for c in after] == [f"D{HOLDER}"]  # answered by the bot again
    assert "Open the certificate's Subject." in after[0].text


async def test_second_escalation_while_open_is_not_duplicated(slack: SlackHarness) -> None:
    await escalate(slack)
    await slack.send.click(
        slack.fake.messages_to(f"D{HOLDER}")[0].button("talk_to_ra"),
        user=HOLDER,
        channel=f"D{HOLDER}",
    )
    await slack.idle()
    assert len(slack.fake.messages_to(RA_CHANNEL)) == 1
    assert "already talking to RA staff" in slack.fake.messages_to(f"D{HOLDER}")[-1].text


async def test_resolved_by_non_staff_is_refused(slack: SlackHarness) -> None:
    await escalate(slack)
    [posted] = slack.fake.messages_to(RA_CHANNEL)
    await slack.send.click(posted.button("resolved"), user=OTHER, channel=RA_CHANNEL)
    await slack.idle()
    [refusal] = slack.fake.calls("response_url")
    assert "Only RA staff" in refusal.text
    assert len(await slack.desk.escalations.open_escalations()) == 1


async def test_bot_messages_in_thread_are_not_relayed(slack: SlackHarness) -> None:
    await escalate(slack)
    ts = await thread_ts(slack)
    before = len(slack.fake.calls("chat.postMessage"))
    await slack.send.event(in_thread(RA_CHANNEL, ts, "UOTHERBOT", "beep", bot_id="BOTHER"))
    await slack.idle()
    await slack.fake.settle(0.3)
    assert len(slack.fake.calls("chat.postMessage")) == before


async def test_escalation_when_bot_is_not_in_the_ra_channel(slack: SlackHarness) -> None:
    await slack.send.event(dm(HOLDER, "my key is blocked"))
    await slack.idle()
    slack.fake.error_next("chat.postMessage", "not_in_channel")
    message = slack.fake.messages_to(f"D{HOLDER}")[-1]
    await slack.send.click(message.button("talk_to_ra"), user=HOLDER, channel=f"D{HOLDER}")
    await slack.idle()
    assert "could not reach RA staff" in slack.fake.messages_to(f"D{HOLDER}")[-1].text
    assert await slack.desk.escalations.open_escalations() == []


async def test_escalation_without_ra_channel(
    slack_settings: Settings, fake_slack: FakeSlack, aiohttp_server: Callable[..., Any]
) -> None:
    slack = await start_harness(
        slack_settings.model_copy(update={"ra_channel": None}), fake_slack, aiohttp_server
    )
    await slack.send.event(dm(HOLDER, "my key is blocked"))
    await slack.idle()
    message = slack.fake.messages_to(f"D{HOLDER}")[-1]
    await slack.send.click(message.button("talk_to_ra"), user=HOLDER, channel=f"D{HOLDER}")
    await slack.idle()
    assert "no RA channel is configured" in slack.fake.messages_to(f"D{HOLDER}")[-1].text


async def test_special_mentions_in_an_escalation_ping_no_one(slack: SlackHarness) -> None:
    """Finding 11: what a holder types reaches the RA channel as text: <!channel>, <!here>,
    <!everyone>, <!subteam^…> and @channel ping no one (&, < and > escaped as Slack says)."""
    pings = "<!channel> <!here> <!everyone> <!subteam^S0RA|@ra> @channel <@U1> a &lt; b"
    await escalate(slack, f"my key is blocked {pings}")
    [posted] = slack.fake.messages_to(RA_CHANNEL)
    await slack.send.event(dm(HOLDER, f"still blocked <!here> {pings}"))
    await slack.idle()
    relayed = slack.fake.messages_to(RA_CHANNEL)[-1]
    for call in (posted, relayed):
        text = call.blocks_text()
        assert "<!" not in text
        assert "<@U1>" not in text
        assert "&lt;!channel&gt; &lt;!here&gt; &lt;!everyone&gt; &lt;!subteam^S0RA|@ra&gt;" in text
        assert "a &lt; b" in text  # Slack's own entity, not doubled
        assert call.params.get("link_names") in (None, False, "false", "0", 0)
    assert relayed.text.startswith("<@U2>: still blocked &lt;!here&gt;")


async def test_only_ra_staff_replies_reach_the_holder(slack: SlackHarness) -> None:
    """Finding 11: a thread reply from someone who is not RA staff is not relayed to the
    holder labelled "RA staff"; a staff reply is."""
    await escalate(slack)
    ts = await thread_ts(slack)
    before = len(slack.fake.messages_to(f"D{HOLDER}"))
    await slack.send.event(in_thread(RA_CHANNEL, ts, OTHER, "Send me your code, I'm RA"))
    await slack.idle()
    await slack.fake.settle(0.3)
    assert len(slack.fake.messages_to(f"D{HOLDER}")) == before
    await slack.send.event(in_thread(RA_CHANNEL, ts, STAFF, "Which key model?"))
    await slack.idle()
    [relayed] = slack.fake.messages_to(f"D{HOLDER}")[before:]
    assert relayed.text == "*RA staff* (<@U1>): Which key model?"
