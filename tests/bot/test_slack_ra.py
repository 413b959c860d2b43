"""/ra for RA staff: issue (inline and modal), status, resend, unlock, stats; refusals."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from bot.settings import Settings
from enrollment.db import session_factory
from enrollment.errors import EnrollmentLocked, WrongCredentials
from enrollment.models import AuditEvent
from enrollment.queries import EnrollmentQueries
from tests.bot.conftest import HOLDER, OTHER, STAFF, SlackHarness, start_harness
from tests.support.fake_slack import Call, FakeSlack
from tests.support.pki import make_csr

ISSUE = '<@U2|holder> cn="Test Holder 02" ou="Branch 7" ou="RA Shanghai" o="Acme Bank"'
LINK = re.compile(r"http://certdesk\.test/enroll/[A-Za-z0-9_\-]+")
REFERENCE = re.compile(r"`(\d{10})`")
CODE = re.compile(r"`([2-9A-Z]{4}-[2-9A-Z]{4}-[2-9A-Z]{4}-[2-9A-Z]{4})`")


async def audit_rows(slack: SlackHarness) -> list[AuditEvent]:
    async with session_factory(slack.runtime.engine)() as session:
        return list((await session.execute(select(AuditEvent))).scalars().all())


async def responses(slack: SlackHarness) -> list[Call]:
    await slack.idle()
    return slack.fake.calls("response_url")


def parse_dm(call: Call) -> tuple[str, str, str | None]:
    link = LINK.search(call.text)
    reference = REFERENCE.search(call.text)
    code = CODE.search(call.text)
    assert link is not None, call.text
    assert reference is not None, call.text
    return link.group(0), reference.group(1), code.group(1) if code else None


async def test_staff_issue_inline_dms_holder_a_working_link(
    slack: SlackHarness, tmp_path: Path
) -> None:
    status, _ = await slack.send.command("/ra", f"issue {ISSUE}", user=STAFF)
    assert status == 200
    [answer] = await responses(slack)
    assert answer.params["response_type"] == "ephemeral"
    assert "created for <@U2>" in answer.text
    [message] = slack.fake.messages_to(f"D{HOLDER}")
    link, reference, code = parse_dm(message)
    assert code is not None
    assert link not in answer.text  # the link goes to the holder only
    enrollment = await EnrollmentQueries(engine=slack.runtime.engine).enrollment(reference)
    assert enrollment is not None
    assert (enrollment.cn, enrollment.ous, enrollment.o, enrollment.slack_user) == (
        "Test Holder 02",
        ("Branch 7", "RA Shanghai"),
        "Acme Bank",
        HOLDER,
    )
    _, csr = make_csr(tmp_path)
    issued = await slack.runtime.services.links.redeem_enrollment_link(
        link.rsplit("/", 1)[1], reference_number=reference, authorization_code=code, csr=csr
    )
    assert issued.serial
    [created] = [e for e in await audit_rows(slack) if e.action == "enrollment.create"]
    assert created.actor == f"slack:{STAFF}"


async def test_non_staff_issue_is_refused_and_audited(slack: SlackHarness) -> None:
    await slack.send.command("/ra", f"issue {ISSUE}", user=OTHER)
    [answer] = await responses(slack)
    assert answer.params["response_type"] == "ephemeral"
    assert "Only RA staff" in answer.text
    assert slack.fake.calls("chat.postMessage") == []
    assert await EnrollmentQueries(engine=slack.runtime.engine).enrollments_of(HOLDER) == []
    [refusal] = [e for e in await audit_rows(slack) if e.outcome == "refused"]
    assert (refusal.actor, refusal.action) == (f"slack:{OTHER}", "ra.issue")


async def test_out_of_band_code_is_withheld_from_the_holder(
    slack_settings: Settings, fake_slack: FakeSlack, aiohttp_server: Callable[..., Any]
) -> None:
    settings = slack_settings.model_copy(update={"code_delivery": "out-of-band"})
    slack = await start_harness(settings, fake_slack, aiohttp_server)
    await slack.send.command("/ra", f"issue {ISSUE}", user=STAFF)
    [answer] = await responses(slack)
    [message] = slack.fake.messages_to(f"D{HOLDER}")
    _, _, code_in_dm = parse_dm(message)
    assert code_in_dm is None
    assert "separately" in message.text
    assert CODE.search(answer.text) is not None


async def test_issue_syntax_error_explains(slack: SlackHarness) -> None:
    await slack.send.command("/ra", 'issue <@U2> cn="Unclosed', user=STAFF)
    [answer] = await responses(slack)
    assert "quotation mark is not closed" in answer.text


async def test_issue_invalid_email_explains(slack: SlackHarness) -> None:
    await slack.send.command("/ra", 'issue <@U2> cn="A" email=nope', user=STAFF)
    [answer] = await responses(slack)
    assert "is not an e-mail address" in answer.text
    assert await EnrollmentQueries(engine=slack.runtime.engine).enrollments_of(HOLDER) == []


async def test_issue_for_unknown_user_creates_nothing(slack: SlackHarness) -> None:
    await slack.send.command("/ra", 'issue <@U9NOBODY> cn="A"', user=STAFF)
    [answer] = await responses(slack)
    assert "does not exist" in answer.text
    assert await EnrollmentQueries(engine=slack.runtime.engine).enrollments_of("U9NOBODY") == []


async def test_issue_when_dm_fails_tells_staff_the_code(slack: SlackHarness) -> None:
    slack.fake.error_next("chat.postMessage", "user_disabled")
    await slack.send.command("/ra", f"issue {ISSUE}", user=STAFF)
    [answer] = await responses(slack)
    assert "could not send <@U2> a direct message" in answer.text
    assert CODE.search(answer.text) is not None


async def test_issue_without_arguments_opens_modal_and_submission_creates(
    slack: SlackHarness,
) -> None:
    await slack.send.command("/ra", "issue", user=STAFF)
    [opened] = await slack.fake.wait_for("views.open")
    view = (
        json.loads(opened.params["view"])
        if isinstance(opened.params["view"], str)
        else opened.params["view"]
    )
    assert view["callback_id"] == "ra_issue"
    values = {
        "holder": {"value": {"type": "users_select", "selected_user": HOLDER}},
        "cn": {"value": {"type": "plain_text_input", "value": "Modal Holder"}},
        "ous": {"value": {"type": "plain_text_input", "value": "Branch 7\nRA Shanghai\n"}},
        "o": {"value": {"type": "plain_text_input", "value": "Acme Bank"}},
        "email": {"value": {"type": "plain_text_input", "value": None}},
        "profile": {"value": {"type": "static_select", "selected_option": {"value": "client"}}},
    }
    status, body = await slack.send.submit_view(view, values, user=STAFF)
    assert status == 200
    assert body == ""
    await slack.idle()
    [holder_dm] = slack.fake.messages_to(f"D{HOLDER}")
    _, reference, _ = parse_dm(holder_dm)
    enrollment = await EnrollmentQueries(engine=slack.runtime.engine).enrollment(reference)
    assert enrollment is not None
    assert enrollment.ous == ("Branch 7", "RA Shanghai")
    [staff_dm] = slack.fake.messages_to(f"D{STAFF}")
    assert reference in staff_dm.text


async def test_modal_submission_with_bad_field_shows_errors(slack: SlackHarness) -> None:
    view = {"callback_id": "ra_issue", "private_metadata": ""}
    values = {
        "holder": {"value": {"type": "users_select", "selected_user": HOLDER}},
        "cn": {"value": {"type": "plain_text_input", "value": "   "}},
        "email": {"value": {"type": "plain_text_input", "value": "not-mail"}},
        "profile": {"value": {"type": "static_select", "selected_option": {"value": "client"}}},
    }
    status, body = await slack.send.submit_view(view, values, user=STAFF)
    assert status == 200
    answer = json.loads(body)
    assert answer["response_action"] == "errors"
    assert set(answer["errors"]) == {"cn", "email"}


async def test_modal_submission_by_non_staff_is_refused(slack: SlackHarness) -> None:
    view = {"callback_id": "ra_issue", "private_metadata": ""}
    values = {
        "holder": {"value": {"type": "users_select", "selected_user": HOLDER}},
        "cn": {"value": {"type": "plain_text_input", "value": "Sneaky"}},
    }
    await slack.send.submit_view(view, values, user=OTHER)
    await slack.idle()
    [message] = slack.fake.messages_to(f"D{OTHER}")
    assert "Only RA staff" in message.text
    assert await EnrollmentQueries(engine=slack.runtime.engine).enrollments_of(HOLDER) == []


async def test_staff_from_user_group(
    slack_settings: Settings, fake_slack: FakeSlack, aiohttp_server: Callable[..., Any]
) -> None:
    fake_slack.usergroups["S0RASTAFF"] = [STAFF]
    settings = slack_settings.model_copy(update={"ra_staff": ("S0RASTAFF",)})
    slack = await start_harness(settings, fake_slack, aiohttp_server)
    await slack.send.command("/ra", "stats", user=STAFF)
    await slack.send.command("/ra", "stats", user=OTHER)
    answers = await responses(slack)
    texts = sorted(a.text for a in answers)
    assert any("certdesk statistics" in t for t in texts)
    assert any("Only RA staff" in t for t in texts)
    assert len(slack.fake.calls("usergroups.users.list")) == 1  # cached


async def test_status_resend_unlock_stats(slack: SlackHarness, tmp_path: Path) -> None:
    services = slack.runtime.services
    await slack.send.command("/ra", f"issue {ISSUE}", user=STAFF)
    await slack.idle()
    [first_dm] = slack.fake.messages_to(f"D{HOLDER}")
    link, reference, _ = parse_dm(first_dm)
    _, csr = make_csr(tmp_path)
    for _ in range(services.config.max_failed_attempts):
        with pytest.raises((WrongCredentials, EnrollmentLocked)):
            await services.links.redeem_enrollment_link(
                link.rsplit("/", 1)[1],
                reference_number=reference,
                authorization_code="AAAA-BBBB-CCCC-DDDD",
                csr=csr,
            )
    slack.fake.reset()

    await slack.send.command("/ra", f"status {reference}", user=STAFF)
    [answer] = await responses(slack)
    assert f"*Enrollment {reference}*: locked" in answer.text
    assert "CN=Test Holder 02, OU=Branch 7, OU=RA Shanghai, O=Acme Bank" in answer.text

    await slack.send.command("/ra", "resend <@U2>", user=STAFF)
    [_, answer] = await responses(slack)
    assert "has no enrollment waiting" in answer.text  # locked ones get no link

    await slack.send.command("/ra", f"unlock {reference}", user=STAFF)
    [*_, answer] = await responses(slack)
    assert f"Enrollment *{reference}* is unlocked" in answer.text
    [unlocked] = slack.fake.messages_to(f"D{HOLDER}")
    assert "unlocked your enrollment" in unlocked.text

    await slack.send.command("/ra", "resend <@U2|holder>", user=STAFF)
    [*_, answer] = await responses(slack)
    assert f"fresh link for {reference}" in answer.text
    [_, resent] = slack.fake.messages_to(f"D{HOLDER}")
    assert LINK.search(resent.text) is not None
    assert LINK.search(resent.text).group(0) != link  # type: ignore[union-attr]

    await slack.send.command("/ra", "status <@U2>", user=STAFF)
    [*_, answer] = await responses(slack)
    assert f"enrollment {reference}, waiting for download" in answer.text

    await slack.send.command("/ra", "stats", user=STAFF)
    [*_, answer] = await responses(slack)
    assert "Enrollments: 1 waiting · 0 locked · 0 issued" in answer.text
    assert "Undeliverable mails: 0" in answer.text

    actions = [e.action for e in await audit_rows(slack) if e.actor == f"slack:{STAFF}"]
    for expected in (
        "enrollment.create",
        "ra.status",
        "enrollment.unlock",
        "link.create",
        "ra.stats",
    ):
        assert expected in actions


async def test_unknown_subcommand_shows_usage(slack: SlackHarness) -> None:
    await slack.send.command("/ra", "frobnicate", user=STAFF)
    [answer] = await responses(slack)
    assert "RA commands" in answer.text


async def test_status_of_unknown_reference(slack: SlackHarness) -> None:
    await slack.send.command("/ra", "status 9999999999", user=STAFF)
    [answer] = await responses(slack)
    assert "Nothing found for 9999999999" in answer.text


async def test_codes_and_links_stay_out_of_debug_logs(
    slack: SlackHarness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await slack.send.command("/ra", f"issue {ISSUE}", user=STAFF)
    await responses(slack)
    [message] = slack.fake.messages_to(f"D{HOLDER}")
    link, _, code = parse_dm(message)
    assert code is not None
    assert caplog.records  # logging did happen at DEBUG
    assert code not in caplog.text
    assert link.rsplit("/", 1)[1] not in caplog.text
