"""Renew (a renewal link and verification code for the owner only) and /ra revoke."""

from __future__ import annotations

import re
from pathlib import Path

from enrollment.queries import EnrollmentQueries
from enrollment.services import EnrollmentCreate
from tests.bot.conftest import HOLDER, OTHER, STAFF, SlackHarness
from tests.support.fake_slack import dm
from tests.support.pki import make_csr

RENEW_LINK = re.compile(r"http://certdesk\.test/renew/([A-Za-z0-9_\-]+)")
CODE = re.compile(r"`([2-9A-Z]{4}(?:-[2-9A-Z]{4}){3})`")


async def certify(slack: SlackHarness, tmp_path: Path, user: str = HOLDER) -> str:
    services = slack.runtime.services
    created = await services.ra.create_enrollment(
        EnrollmentCreate(cn="Renew Holder", ous=["Branch 7"], o="Acme Bank", slack_user=user),
        actor="test",
    )
    _, csr = make_csr(tmp_path)
    issued = await services.links.redeem_enrollment_link(
        created.link.token,
        reference_number=created.reference_number,
        authorization_code=created.authorization_code,
        csr=csr,
    )
    return issued.serial


async def press_renew(slack: SlackHarness, clicker: str) -> str:
    await slack.send.event(dm(HOLDER, "hi"))
    await slack.idle()
    menu = slack.fake.messages_to(f"D{HOLDER}")[-1]
    await slack.send.click(menu.button("renew"), user=clicker, channel=f"D{HOLDER}")
    await slack.idle()
    return slack.fake.messages_to(f"D{clicker}")[-1].text


async def test_renew_gives_the_owner_a_working_link_and_code(
    slack: SlackHarness, tmp_path: Path
) -> None:
    serial = await certify(slack, tmp_path)
    text = await press_renew(slack, HOLDER)
    link, code = RENEW_LINK.search(text), CODE.search(text)
    assert link is not None, text
    assert code is not None, text
    _, csr = make_csr(tmp_path)
    renewed = await slack.runtime.services.renewal.redeem_renewal_link(  # type: ignore[attr-defined]
        link.group(1), serial=serial, verification_code=code.group(1), csr=csr
    )
    assert renewed.serial != serial
    old = await EnrollmentQueries(engine=slack.runtime.engine).certificate(serial)
    assert old is not None
    assert old.status == "superseded"


async def test_renew_pressed_by_someone_else_gives_them_nothing(
    slack: SlackHarness, tmp_path: Path
) -> None:
    await certify(slack, tmp_path)
    text = await press_renew(slack, OTHER)
    assert RENEW_LINK.search(text) is None
    assert "no active certificate" in text


async def test_renew_button_for_a_certificate_of_someone_else(
    slack: SlackHarness, tmp_path: Path
) -> None:
    serial = await certify(slack, tmp_path)
    button = {"action_id": "renew_certificate#0", "block_id": "certdesk:en:0", "value": serial}
    await slack.send.click(button, user=OTHER, channel=f"D{OTHER}")
    await slack.idle()
    [answer] = slack.fake.messages_to(f"D{OTHER}")
    assert "not yours" in answer.text
    assert RENEW_LINK.search(answer.text) is None


async def test_ra_revoke_revokes_and_tells_the_owner(slack: SlackHarness, tmp_path: Path) -> None:
    serial = await certify(slack, tmp_path)
    await slack.send.command("/ra", f"revoke {serial.upper()} keyCompromise", user=STAFF)
    await slack.idle()
    [answer] = slack.fake.calls("response_url")
    assert f"Certificate `{serial}` is revoked" in answer.text
    [told] = slack.fake.messages_to(f"D{HOLDER}")
    assert "revoked your certificate" in told.text
    revoked = await EnrollmentQueries(engine=slack.runtime.engine).certificate(serial)
    assert revoked is not None
    assert revoked.status == "revoked"

    await slack.send.command("/ra", f"revoke {serial} because", user=STAFF)
    await slack.idle()
    assert "not a revocation reason" in slack.fake.calls("response_url")[-1].text


async def test_ra_revoke_by_non_staff_is_refused(slack: SlackHarness, tmp_path: Path) -> None:
    serial = await certify(slack, tmp_path)
    await slack.send.command("/ra", f"revoke {serial}", user=OTHER)
    await slack.idle()
    [answer] = slack.fake.calls("response_url")
    assert "Only RA staff" in answer.text
    still = await EnrollmentQueries(engine=slack.runtime.engine).certificate(serial)
    assert still is not None
    assert still.status == "active"
