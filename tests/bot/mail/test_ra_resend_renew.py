"""`certdesk ra resend` and `ra renew` deliver by the holder's channel (mail here, on SQLite
and PostgreSQL), never with the code in the link's mail, and are audited; `ra revoke` and
`ra unlock` tell a mail holder."""

from __future__ import annotations

import json
import re
from pathlib import Path

from sqlmodel import col, select

from bot.runtime import Runtime
from bot.settings import Settings
from enrollment.db import session_factory
from enrollment.models import AuditEvent
from enrollment.services import EnrollmentCreate
from enrollment.services.ra import NewEnrollment
from tests.support.pki import make_csr
from tests.support.processes import Cli
from tests.support.smtp import SmtpServer, body_text

HOLDER = "holder@example.com"


def env(settings: Settings, smtp: SmtpServer) -> dict[str, str]:
    return {"CERTDESK_DATABASE_URL": settings.database_url, "CERTDESK_SMTP_URL": smtp.url}


async def enrollment(runtime: Runtime, email: str | None = HOLDER) -> NewEnrollment:
    return await runtime.services.ra.create_enrollment(
        EnrollmentCreate(cn="Test Holder 01", email=email), actor="test"
    )


async def issued_serial(runtime: Runtime, tmp_path: Path) -> tuple[NewEnrollment, str]:
    created = await enrollment(runtime)
    _, csr = make_csr(tmp_path)
    issued = await runtime.services.links.redeem_enrollment_link(
        created.link.token,
        reference_number=created.reference_number,
        authorization_code=created.authorization_code,
        csr=csr,
    )
    return created, issued.serial


async def actions(runtime: Runtime, target: str) -> list[str]:
    async with session_factory(runtime.engine)() as session:
        rows = await session.execute(
            select(AuditEvent.action).where(col(AuditEvent.target) == target)
        )
        return list(rows.scalars().all())


async def test_ra_resend_mails_a_new_link_without_the_code(
    runtime: Runtime, cli: Cli, smtp: SmtpServer
) -> None:
    created = await enrollment(runtime)
    result = cli(
        "ra", "resend", created.reference_number, "--json", env=env(runtime.settings, smtp)
    )
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert [(d["channel"], d["ok"]) for d in answer["deliveries"]] == [("email", True)]
    assert "link" not in answer  # delivered: the RA does not need to see it
    text = body_text(smtp.wait_to(HOLDER))
    (link,) = set(re.findall(r"http://certdesk\.test/enroll/[A-Za-z0-9_-]+", text))
    assert link != created.link.url
    assert created.authorization_code not in text
    assert "ra.resend" in await actions(runtime, created.reference_number)
    assert "link.create" in await actions(runtime, created.reference_number)


async def test_ra_resend_without_any_channel_prints_the_link(
    runtime: Runtime, cli: Cli, smtp: SmtpServer
) -> None:
    created = await enrollment(runtime, email=None)
    result = cli("ra", "resend", created.reference_number, env=env(runtime.settings, smtp))
    assert result.returncode == 0, result.stderr
    assert "http://certdesk.test/enroll/" in result.stdout
    assert "hand them the link" in result.stdout
    assert smtp.messages == []


def test_ra_resend_unknown_reference_fails_clearly(
    migrated: Settings, cli: Cli, smtp: SmtpServer
) -> None:
    result = cli("ra", "resend", "0000000000", env=env(migrated, smtp))
    assert result.returncode == 1
    assert "No enrollment has the reference number" in result.stderr
    assert "Traceback" not in result.stderr


async def test_ra_renew_mails_the_renewal_link_and_the_holder_renews(
    runtime: Runtime, cli: Cli, smtp: SmtpServer, tmp_path: Path
) -> None:
    _, serial = await issued_serial(runtime, tmp_path)
    result = cli("ra", "renew", serial, "--json", env=env(runtime.settings, smtp))
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert [(d["channel"], d["ok"]) for d in answer["deliveries"]] == [("email", True)]
    code = answer["verification_code"]  # the RA hands it over on another channel
    text = body_text(smtp.wait_to(HOLDER))
    assert code not in text
    (link,) = set(re.findall(r"http://certdesk\.test/renew/([A-Za-z0-9_-]+)", text))
    view = await runtime.services.renewal.renewal_view(link)
    assert view.preselected == serial
    (tmp_path / "new").mkdir()
    _, csr = make_csr(tmp_path / "new")
    renewed = await runtime.services.renewal.redeem_renewal_link(
        link, serial=serial, verification_code=code, csr=csr
    )
    assert renewed.serial != serial
    assert "ra.renew" in await actions(runtime, serial)
    assert "link.create_renewal" in await actions(runtime, serial)


def test_ra_renew_unknown_serial_fails_clearly(
    migrated: Settings, cli: Cli, smtp: SmtpServer
) -> None:
    result = cli("ra", "renew", "abcdef", env=env(migrated, smtp))
    assert result.returncode == 1
    assert "No certificate has the serial number" in result.stderr
    assert smtp.messages == []


async def test_ra_revoke_mails_the_holder_a_notice(
    runtime: Runtime, cli: Cli, smtp: SmtpServer, tmp_path: Path
) -> None:
    _, serial = await issued_serial(runtime, tmp_path)
    result = cli(
        "ra", "revoke", serial, "--reason", "keyCompromise", env=env(runtime.settings, smtp)
    )
    assert result.returncode == 0, result.stderr
    mail = smtp.wait_to(HOLDER)
    assert "revoked" in str(mail["Subject"])
    assert serial in body_text(mail)
