"""Who gets what: a Slack user gets Slack first, `--notify both` gets both, `--notify email`
needs an address; `ra unlock` tells a mail holder their enrollment is unlocked."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from bot.runtime import Runtime
from bot.settings import Settings
from common.errors import CertdeskError
from enrollment.services import EnrollmentCreate
from tests.support.fake_slack import BOT_TOKEN, SIGNING_SECRET, FakeSlack
from tests.support.pki import make_csr
from tests.support.processes import Cli
from tests.support.smtp import SmtpServer, body_text

HOLDER_MAIL = "holder@example.com"
SLACK_HOLDER = "U2"


def slack_env(settings: Settings, smtp: SmtpServer, fake: FakeSlack) -> dict[str, str]:
    return {
        "CERTDESK_DATABASE_URL": settings.database_url,
        "CERTDESK_SMTP_URL": smtp.url,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": fake.api_url,
    }


def issue(cli: Cli, env: dict[str, str], *extra: str) -> tuple[int, dict[str, object], str]:
    result = cli(
        "ra", "issue", "--cn", "Test Holder 01", "--email", HOLDER_MAIL, "--json", *extra, env=env
    )
    return result.returncode, json.loads(result.stdout or "{}"), result.stderr


def test_slack_user_gets_slack_first_not_mail(
    migrated: Settings, cli: Cli, smtp: SmtpServer, fake_slack: FakeSlack
) -> None:
    code, created, stderr = issue(
        cli, slack_env(migrated, smtp, fake_slack), "--slack-user", SLACK_HOLDER
    )
    assert code == 0, stderr
    assert [d["channel"] for d in created["deliveries"]] == ["slack"]  # type: ignore[attr-defined]
    (dm,) = fake_slack.messages_to(SLACK_HOLDER)
    assert str(created["link"]) in dm.text
    assert smtp.messages == []


def test_notify_both_sends_slack_and_mail(
    migrated: Settings, cli: Cli, smtp: SmtpServer, fake_slack: FakeSlack
) -> None:
    code, created, stderr = issue(
        cli,
        slack_env(migrated, smtp, fake_slack),
        "--slack-user",
        SLACK_HOLDER,
        "--notify",
        "both",
    )
    assert code == 0, stderr
    assert [d["channel"] for d in created["deliveries"]] == ["slack", "email"]  # type: ignore[attr-defined]
    assert len(fake_slack.messages_to(SLACK_HOLDER)) == 1
    assert str(created["link"]) in body_text(smtp.wait_to(HOLDER_MAIL))


def test_notify_email_without_an_address_is_refused(migrated: Settings, cli: Cli) -> None:
    result = cli(
        "ra",
        "issue",
        "--cn",
        "X",
        "--notify",
        "email",
        env={"CERTDESK_DATABASE_URL": migrated.database_url},
    )
    assert result.returncode == 1
    assert "needs an e-mail address" in result.stderr
    assert "Traceback" not in result.stderr


async def test_ra_unlock_mails_the_holder(
    runtime: Runtime, cli: Cli, smtp: SmtpServer, tmp_path: Path
) -> None:
    services = runtime.services
    created = await services.ra.create_enrollment(
        EnrollmentCreate(cn="Test Holder 01", email=HOLDER_MAIL), actor="test"
    )
    _, csr = make_csr(tmp_path)
    for _ in range(runtime.settings.max_failed_attempts):
        with contextlib.suppress(CertdeskError):
            await services.links.redeem_enrollment_link(
                created.link.token,
                reference_number=created.reference_number,
                authorization_code="WRONG-CODE-0000",
                csr=csr,
            )
    env = {"CERTDESK_DATABASE_URL": runtime.settings.database_url, "CERTDESK_SMTP_URL": smtp.url}
    result = cli("ra", "unlock", created.reference_number, env=env)
    assert result.returncode == 0, result.stderr
    mail = smtp.wait_to(HOLDER_MAIL)
    assert "unlocked" in str(mail["Subject"])
    assert created.reference_number in body_text(mail)
    again = cli("ra", "unlock", created.reference_number, env=env)
    assert again.returncode == 0
    assert len(smtp.messages) == 1  # not locked any more: nothing to tell
