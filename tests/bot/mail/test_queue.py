"""The queue of code mails: sent at its time, once across processes; a 4xx waits for a backoff,
a 5xx is undeliverable (audited, counted) and never sent again; the code is never stored in
clear."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

import sqlalchemy as sa
from sqlmodel import col

from bot.mail.models import QueuedMail, QueuedStatus
from bot.mail.queue import MailQueue
from bot.mail.stats import mail_failures
from bot.mail.wiring import mail_queue
from bot.runtime import Runtime
from bot.settings import Settings
from common.time import utcnow
from enrollment.models import AuditEvent
from tests.support.smtp import SmtpServer, body_text

CODE = "ABCD-EFGH-JKLM-NPQR"


def queue_for(runtime: Runtime, make: Callable[..., Settings], smtp: SmtpServer) -> MailQueue:
    return mail_queue(make(smtp_url=smtp.url, mail_code="separate"), runtime.engine)


async def enqueue(queue: MailQueue, to: str) -> int:
    return await queue.enqueue(
        "code",
        recipient=to,
        lang="en",
        reference="1234567890",
        subject_cn="Test Holder 01",
        secret=CODE,
        not_before=utcnow(),
    )


async def rows(runtime: Runtime) -> list[sa.Row[tuple[str, int, str]]]:
    async with runtime.engine.connect() as connection:
        result = await connection.execute(
            sa.select(col(QueuedMail.status), col(QueuedMail.attempts), col(QueuedMail.secret))
        )
        return list(result.all())


async def test_code_is_encrypted_until_sent_and_blanked_after(
    runtime: Runtime, settings_factory: Callable[..., Settings], smtp: SmtpServer
) -> None:
    queue = queue_for(runtime, settings_factory, smtp)
    await enqueue(queue, "h@example.com")
    [(_, _, stored)] = await rows(runtime)
    assert CODE not in stored
    assert CODE.replace("-", "") not in stored
    assert (await queue.send_due()).sent == 1
    assert CODE in body_text(smtp.wait_to("h@example.com"))
    assert await rows(runtime) == [(QueuedStatus.SENT, 1, "")]


async def test_concurrent_senders_send_once(
    runtime: Runtime, settings_factory: Callable[..., Settings], smtp: SmtpServer
) -> None:
    queues = [queue_for(runtime, settings_factory, smtp) for _ in range(4)]
    await enqueue(queues[0], "h@example.com")
    reports = await asyncio.gather(*(q.send_due() for q in queues))
    assert sum(r.sent for r in reports) == 1
    assert len(smtp.messages) == 1


async def test_4xx_waits_for_backoff_then_sends(
    runtime: Runtime, settings_factory: Callable[..., Settings], smtp: SmtpServer
) -> None:
    queue = queue_for(runtime, settings_factory, smtp)
    smtp.answer("busy@example.com", "451 4.3.0 later")
    await enqueue(queue, "busy@example.com")
    assert (await queue.send_due()).failed == 1
    smtp.answer("busy@example.com", None)
    assert (await queue.send_due()).sent == 0  # the backoff has not passed
    assert (await queue.send_due(now=utcnow() + timedelta(minutes=2))).sent == 1
    assert smtp.refusals["busy@example.com"] == 1
    assert len(smtp.to("busy@example.com")) == 1


async def test_5xx_is_undeliverable_audited_counted_and_not_retried(
    runtime: Runtime, settings_factory: Callable[..., Settings], smtp: SmtpServer
) -> None:
    queue = queue_for(runtime, settings_factory, smtp)
    smtp.answer("gone@example.com", "550 5.1.1 no such user")
    await enqueue(queue, "gone@example.com")
    assert (await queue.send_due()).undeliverable == 1
    for hours in (1, 24, 24 * 30):
        report = await queue.send_due(now=utcnow() + timedelta(hours=hours))
        assert (report.sent, report.failed, report.undeliverable) == (0, 0, 0)
    assert smtp.refusals["gone@example.com"] == 1
    async with runtime.engine.connect() as connection:
        audits = (
            await connection.execute(
                sa.select(col(AuditEvent.action), col(AuditEvent.outcome)).where(
                    col(AuditEvent.action) == "mail.undeliverable"
                )
            )
        ).all()
    assert audits == [("mail.undeliverable", "failed")]
    assert (await mail_failures(runtime.engine)).queued == 1
