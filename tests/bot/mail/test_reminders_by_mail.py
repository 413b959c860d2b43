"""Reminders by mail through the same claim rows as Slack's: exactly once, also with four
concurrent passes on PostgreSQL; a 5xx recipient is undeliverable (audited, counted, never
retried); a 4xx is retried."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select

from bot.mail.stats import mail_failures
from bot.notify import build_notifier
from bot.settings import Settings
from common.time import utcnow
from enrollment.db import create_engine, session_factory
from enrollment.models import AuditEvent, Certificate, Enrollment, EnrollmentStatus
from scheduler.policy import Outcome, ReminderPolicy
from scheduler.run import ReminderRunner, Result, RunConfig
from tests.scheduler.support import add_certificates, migrated_engine, reminder_rows
from tests.support.processes import Cli
from tests.support.smtp import SmtpServer, body_text

FAST_RETRY = ReminderPolicy(
    retry_backoff=timedelta(milliseconds=1), max_retry_backoff=timedelta(milliseconds=2)
)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    async with migrated_engine(database_url) as engine:
        yield engine


async def mail_owned_certificate(engine: AsyncEngine, email: str) -> Certificate:
    """A certificate with no Slack owner, only an address, expiring in 30 days."""
    (cert,) = await add_certificates(engine, expires_in=timedelta(days=30), owner_slack_user=None)
    async with session_factory(engine)() as session, session.begin():
        await session.execute(
            sa.update(Certificate).where(col(Certificate.id) == cert.id).values(owner_email=email)
        )
    return cert


def runner(
    engine: AsyncEngine, settings: Settings, policy: ReminderPolicy | None = None
) -> ReminderRunner:
    return ReminderRunner(
        engine=engine,
        notifier=build_notifier(settings, engine),
        config=RunConfig(policy=policy or ReminderPolicy()),
    )


async def test_reminder_run_once_six_days_before_expiry_mails_the_owner_once(
    engine: AsyncEngine, database_url: str, cli: Cli, smtp: SmtpServer
) -> None:
    cert = await mail_owned_certificate(engine, "owner@example.com")
    as_of = (cert.not_after - timedelta(days=6)).isoformat()
    env = {"CERTDESK_DATABASE_URL": database_url, "CERTDESK_SMTP_URL": smtp.url}
    for _ in range(2):
        result = cli("reminders", "run-once", "--as-of", as_of, "--json", env=env)
        assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["sent"] == 0  # the second pass found it sent
    (mail,) = smtp.to("owner@example.com")
    assert len(smtp.messages) == 1
    assert cert.serial in body_text(mail)
    assert "6 day" in str(mail["Subject"])
    (row,) = await reminder_rows(engine)
    assert (row.channel, row.outcome) == ("email", Outcome.SENT)


async def test_four_concurrent_passes_mail_once(
    engine: AsyncEngine,
    database_url: str,
    smtp: SmtpServer,
    settings_factory: Callable[..., Settings],
) -> None:
    cert = await mail_owned_certificate(engine, "owner@example.com")
    settings = settings_factory(smtp_url=smtp.url)
    as_of = cert.not_after - timedelta(days=6)
    engines = [create_engine(database_url) for _ in range(4)]
    try:
        reports = await asyncio.gather(
            *(runner(e, settings).run_pass(as_of=as_of) for e in engines)
        )
    finally:
        for other in engines:
            await other.dispose()
    assert sum(r.count(Result.SENT) for r in reports) == 1
    others = {r.result for report in reports for r in report.results} - {Result.SENT}
    assert others <= {Result.CLAIMED_ELSEWHERE}  # a pass that loaded late saw it sent
    assert len(smtp.to("owner@example.com")) == 1
    assert len(smtp.messages) == 1


async def test_5xx_recipient_is_undeliverable_audited_counted_and_not_retried(
    engine: AsyncEngine, smtp: SmtpServer, settings_factory: Callable[..., Settings]
) -> None:
    cert = await mail_owned_certificate(engine, "gone@example.com")
    smtp.answer("gone@example.com", "550 5.1.1 no such user")
    reminders = runner(engine, settings_factory(smtp_url=smtp.url), FAST_RETRY)
    as_of = cert.not_after - timedelta(days=6)
    first = await reminders.run_pass(as_of=as_of)
    assert first.count(Result.UNDELIVERABLE) == 1
    for later in range(3):
        await asyncio.sleep(0.01)  # past any retry backoff
        report = await reminders.run_pass(as_of=as_of + timedelta(hours=later))
        assert report.results == ()
    assert smtp.refusals["gone@example.com"] == 1
    (row,) = await reminder_rows(engine)
    assert row.outcome == Outcome.UNDELIVERABLE
    assert "550" in (row.last_error or "")
    async with session_factory(engine)() as session:
        audits = (
            (
                await session.execute(
                    select(AuditEvent).where(col(AuditEvent.action) == "reminder.undeliverable")
                )
            )
            .scalars()
            .all()
        )
    assert [(a.target, a.outcome, a.detail["channel"]) for a in audits] == [
        (cert.serial, "failed", "email")
    ]
    assert (await mail_failures(engine)).reminders == 1


async def test_4xx_is_retried_with_backoff_then_sent(
    engine: AsyncEngine, smtp: SmtpServer, settings_factory: Callable[..., Settings]
) -> None:
    cert = await mail_owned_certificate(engine, "busy@example.com")
    smtp.answer("busy@example.com", "451 4.3.0 mailbox busy")
    reminders = runner(engine, settings_factory(smtp_url=smtp.url), FAST_RETRY)
    as_of = cert.not_after - timedelta(days=6)
    first = await reminders.run_pass(as_of=as_of)
    assert first.count(Result.FAILED) == 1
    smtp.answer("busy@example.com", None)
    await asyncio.sleep(0.01)
    second = await reminders.run_pass(as_of=as_of)
    assert second.count(Result.SENT) == 1
    assert smtp.refusals["busy@example.com"] == 1
    assert len(smtp.to("busy@example.com")) == 1
    (row,) = await reminder_rows(engine)
    assert (row.outcome, row.attempts) == (Outcome.SENT, 2)
    assert (await mail_failures(engine)).reminders == 0


async def test_with_slack_off_and_no_smtp_a_mail_owner_gets_an_outbox_mail(
    engine: AsyncEngine, settings_factory: Callable[..., Settings], data_dir: Path
) -> None:
    cert = await mail_owned_certificate(engine, "owner@example.com")
    report = await runner(engine, settings_factory()).run_pass(
        as_of=cert.not_after - timedelta(days=6)
    )
    assert report.count(Result.SENT) == 1
    (eml,) = (data_dir / "outbox").glob("*.eml")
    assert cert.serial in eml.read_text()
    assert utcnow() > cert.not_before


async def test_reminder_mail_follows_the_language_stored_with_the_enrollment(
    engine: AsyncEngine, smtp: SmtpServer, settings_factory: Callable[..., Settings]
) -> None:
    """``ra issue --language zh`` for a holder whose name is written in Latin letters: the
    reminder comes in Chinese (it used to follow the name's script only)."""
    cert = await mail_owned_certificate(engine, "li@example.com")
    async with session_factory(engine)() as session, session.begin():
        enrollment = Enrollment(
            reference_number="7000000001",
            authorization_code_hash="x" * 64,
            subject_cn=cert.subject_cn,
            subject_ous=[],
            email="li@example.com",
            language="zh",
            status=EnrollmentStatus.ISSUED,
            created_by="test",
        )
        session.add(enrollment)
        await session.flush()
        await session.execute(
            sa.update(Certificate)
            .where(col(Certificate.id) == cert.id)
            .values(enrollment_id=enrollment.id)
        )
    reminders = runner(engine, settings_factory(smtp_url=smtp.url))
    report = await reminders.run_pass(as_of=cert.not_after - timedelta(days=6))
    assert report.count(Result.SENT) == 1
    (mail,) = smtp.to("li@example.com")
    assert "将在 6 天后到期" in str(mail["Subject"])
