"""App Home: the user's certificates and enrollments; the staff overview for RA staff."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from enrollment.services import EnrollmentCreate
from tests.bot.conftest import HOLDER, STAFF, SlackHarness
from tests.support.fake_slack import dm
from tests.support.pki import make_csr


def home_opened(user: str) -> dict[str, Any]:
    return {"type": "app_home_opened", "user": user, "channel": f"D{user}", "tab": "home"}


async def test_home_lists_certificates_with_renew_and_pending(
    slack: SlackHarness, tmp_path: Path
) -> None:
    services = slack.runtime.services
    issued = await services.ra.create_enrollment(
        EnrollmentCreate(cn="Holder Active", slack_user=HOLDER), actor="test"
    )
    _, csr = make_csr(tmp_path)
    certificate = await services.links.redeem_enrollment_link(
        issued.link.token,
        reference_number=issued.reference_number,
        authorization_code=issued.authorization_code,
        csr=csr,
    )
    waiting = await services.ra.create_enrollment(
        EnrollmentCreate(cn="Holder Waiting", slack_user=HOLDER), actor="test"
    )
    await slack.send.event(home_opened(HOLDER))
    await slack.idle()
    [published] = slack.fake.calls("views.publish")
    assert published.params["user_id"] == HOLDER
    text = published.blocks_text()
    assert "*Holder Active* — active, expires" in text
    assert certificate.serial in text
    assert f"enrollment {waiting.reference_number}, waiting for download" in text
    renew = published.button("renew_certificate")
    assert renew["value"] == certificate.serial
    assert "RA staff" not in text.split("Talk to RA staff")[0]
    view = published.params["view"]
    assert (json.loads(view) if isinstance(view, str) else view)["type"] == "home"


async def test_home_for_staff_shows_the_overview(slack: SlackHarness) -> None:
    await slack.runtime.services.ra.create_enrollment(
        EnrollmentCreate(cn="Someone Waiting", slack_user=HOLDER), actor="test"
    )
    await slack.send.event(dm(HOLDER, "what's the weather"))
    await slack.idle()
    await slack.send.event(home_opened(STAFF))
    await slack.idle()
    [published] = slack.fake.calls("views.publish")
    text = published.blocks_text()
    assert "*Pending enrollments* (1)" in text
    assert "Someone Waiting · <@U2>" in text
    assert "*Locked enrollments* (0)" in text
    assert "*Open escalations* (0)" in text
    assert "*Questions I could not answer* (1)" in text
    assert "what's the weather" in text


async def test_home_for_a_user_shows_no_staff_overview(slack: SlackHarness) -> None:
    await slack.send.event(home_opened(HOLDER))
    await slack.idle()
    [published] = slack.fake.calls("views.publish")
    assert "Pending enrollments" not in published.blocks_text()
    assert "You have no certificates yet." in published.blocks_text()


async def test_messages_tab_is_not_a_home_view(slack: SlackHarness) -> None:
    await slack.send.event({**home_opened(HOLDER), "tab": "messages"})
    await slack.idle()
    assert slack.fake.calls("views.publish") == []
