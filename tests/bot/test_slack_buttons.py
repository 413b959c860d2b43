"""Buttons and /cert: a link only ever goes to the enrollment's own holder."""

from __future__ import annotations

import re
from pathlib import Path

from sqlmodel import select

from enrollment.db import session_factory
from enrollment.models import AuditEvent
from enrollment.services import EnrollmentCreate
from enrollment.services.ra import NewEnrollment
from tests.bot.conftest import CHINESE, HOLDER, OTHER, SlackHarness
from tests.support.fake_slack import dm
from tests.support.pki import make_csr

LINK = re.compile(r"http://certdesk\.test/enroll/[A-Za-z0-9_\-]+")


async def enroll(
    slack: SlackHarness, user: str = HOLDER, cn: str = "Test Holder 02"
) -> NewEnrollment:
    return await slack.runtime.services.ra.create_enrollment(
        EnrollmentCreate(cn=cn, ous=["Branch 7"], o="Acme Bank", slack_user=user), actor="test"
    )


async def menu(slack: SlackHarness, user: str) -> None:
    """The user says hi and gets the menu (whose buttons the tests then press)."""
    await slack.send.event(dm(user, "hi"))
    await slack.idle()


async def press(slack: SlackHarness, prefix: str, *, owner: str, clicker: str) -> list[str]:
    """Press ``prefix`` on the last message to ``owner``; return the texts sent to ``clicker``."""
    message = slack.fake.messages_to(f"D{owner}")[-1]
    before = len(slack.fake.messages_to(f"D{clicker}"))
    status, _ = await slack.send.click(message.button(prefix), user=clicker, channel=f"D{owner}")
    assert status == 200
    await slack.idle()
    return [m.text for m in slack.fake.messages_to(f"D{clicker}")[before:]]


async def test_download_gives_holder_a_new_working_link(
    slack: SlackHarness, tmp_path: Path
) -> None:
    created = await enroll(slack)
    await menu(slack, HOLDER)
    [answer] = await press(slack, "download", owner=HOLDER, clicker=HOLDER)
    link = LINK.search(answer)
    assert link is not None
    assert link.group(0) != created.link.url
    assert "certdesk-usbkey enroll" in answer
    _, csr = make_csr(tmp_path)
    issued = await slack.runtime.services.links.redeem_enrollment_link(
        link.group(0).rsplit("/", 1)[1],
        reference_number=created.reference_number,
        authorization_code=created.authorization_code,
        csr=csr,
    )
    assert (
        issued.certificate.subject.rfc4514_string() == "CN=Test Holder 02,OU=Branch 7,O=Acme Bank"
    )


async def test_download_pressed_by_someone_else_gives_them_no_link(slack: SlackHarness) -> None:
    await enroll(slack, HOLDER)
    await menu(slack, HOLDER)
    [answer] = await press(slack, "download", owner=HOLDER, clicker=OTHER)
    assert LINK.search(answer) is None
    assert "can't find a certificate enrollment for you" in answer
    assert slack.fake.messages_to(f"D{HOLDER}")[-1].text.startswith("Hi!")  # nothing new for U2


async def test_choosing_someone_elses_enrollment_is_refused_and_audited(
    slack: SlackHarness,
) -> None:
    await enroll(slack, HOLDER, "First")
    second = await enroll(slack, HOLDER, "Second")
    await menu(slack, HOLDER)
    [choice] = await press(slack, "download", owner=HOLDER, clicker=HOLDER)
    assert "Which one" in choice
    message = slack.fake.messages_to(f"D{HOLDER}")[-1]
    button = next(
        {**message.button(f"download_enrollment#{i}")}
        for i in range(2)
        if message.button(f"download_enrollment#{i}")["value"] == second.reference_number
    )
    await slack.send.click(button, user=OTHER, channel=f"D{HOLDER}")
    await slack.idle()
    [refused] = slack.fake.messages_to(f"D{OTHER}")
    assert "not yours" in refused.text
    assert LINK.search(refused.text) is None
    async with session_factory(slack.runtime.engine)() as session:
        rows = (await session.execute(select(AuditEvent))).scalars().all()
    assert any(
        r.action == "link.create" and r.outcome == "refused" and r.actor == f"slack:{OTHER}"
        for r in rows
    )
    await slack.send.click(button, user=HOLDER, channel=f"D{HOLDER}")
    await slack.idle()
    assert LINK.search(slack.fake.messages_to(f"D{HOLDER}")[-1].text) is not None


async def test_my_certificates_lists_status_and_expiry(slack: SlackHarness, tmp_path: Path) -> None:
    created = await enroll(slack)
    _, csr = make_csr(tmp_path)
    await slack.runtime.services.links.redeem_enrollment_link(
        created.link.token,
        reference_number=created.reference_number,
        authorization_code=created.authorization_code,
        csr=csr,
    )
    await menu(slack, HOLDER)
    [answer] = await press(slack, "my_certificates", owner=HOLDER, clicker=HOLDER)
    assert "*Test Holder 02* — active, expires" in answer


async def test_replying_download_in_the_dm_acts_like_the_button(slack: SlackHarness) -> None:
    await enroll(slack)
    await slack.send.event(dm(HOLDER, "Download"))
    await slack.idle()
    [answer] = slack.fake.messages_to(f"D{HOLDER}")
    assert LINK.search(answer.text) is not None


async def test_cert_command_answers_ephemerally(slack: SlackHarness) -> None:
    await enroll(slack)
    for text in ("", "download", "status", "frob", "下载"):
        await slack.send.command("/cert", text, user=HOLDER)
    await slack.idle()
    answers = slack.fake.calls("response_url")
    assert all(a.params["response_type"] == "ephemeral" for a in answers)
    texts = [a.text for a in answers]
    assert len(texts) == 5
    assert any("certdesk commands" in t for t in texts)
    assert sum(1 for t in texts if LINK.search(t)) == 2
    assert any("waiting for download" in t for t in texts)
    assert any("/cert frob" in t for t in texts)
    assert any("一次性下载链接" in t for t in texts)


async def test_cert_status_in_users_locale(slack: SlackHarness) -> None:
    await slack.send.command("/cert", "status", user=CHINESE)
    await slack.idle()
    [answer] = slack.fake.calls("response_url")
    assert "还没有证书" in answer.text


async def test_feedback_buttons(slack: SlackHarness) -> None:
    await slack.send.event(dm(HOLDER, "what is my CN"))
    await slack.idle()
    [thanks] = await press(slack, "helpful", owner=HOLDER, clicker=HOLDER)
    assert "Thanks" in thanks
    await slack.send.event(dm(HOLDER, "what is my CN"))
    await slack.idle()
    [sorry] = await press(slack, "not_helpful", owner=HOLDER, clicker=HOLDER)
    assert "pass your question to RA staff" in sorry
    assert slack.fake.messages_to(f"D{HOLDER}")[-1].button("talk_to_ra")["value"] == "what is my CN"
    assert [q.question for q in await slack.desk.unanswered.pending()] == ["what is my CN"]


async def test_did_you_mean_suggestion(slack: SlackHarness) -> None:
    await slack.send.event(dm(HOLDER, "certificate stuff"))
    await slack.idle()
    [answer] = await press(slack, "suggestion", owner=HOLDER, clicker=HOLDER)
    assert "Open the certificate's Subject." in answer
