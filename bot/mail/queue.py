"""The durable queue of mails sent later: the code mail of ``CERTDESK_MAIL_CODE=separate``.

A row waits until ``not_before``; :meth:`MailQueue.send_due` (every minute in ``certdesk
serve`` and ``certdesk clock``, and once right after ``certdesk ra issue``) claims each due row
with a conditional UPDATE (``status`` and ``attempts`` as read), so of several processes exactly
one sends it. A transient failure (4xx, unreachable) puts the row back with a doubling backoff;
a permanent one (5xx), or the last of ``MAX_ATTEMPTS``, marks it ``undeliverable`` and writes
an audit row. A claim older than ``CLAIM_LEASE`` (the process died while sending) is taken over.

The code is stored encrypted (Fernet, key derived from the secret key), never in clear, and the
row is deleted of its secret once sent.
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col

from bot.mail.models import QueuedMail, QueuedStatus
from bot.mail.postman import Postman
from bot.mail.smtp import MailFailed
from bot.mail.texts import MailKind
from common.language import LANGUAGES, Lang
from common.time import utcnow
from enrollment.codes import Pepper
from enrollment.models import AuditEvent
from enrollment.reads import read_connection
from enrollment.writer import writes_for

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
CLAIM_LEASE = timedelta(minutes=10)
FIRST_BACKOFF = timedelta(minutes=1)
MAX_BACKOFF = timedelta(hours=6)
SENT_SECRET = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueReport:
    sent: int = 0
    failed: int = 0
    undeliverable: int = 0


def backoff(attempts: int) -> timedelta:
    """1, 2, 4 … minutes after the ``attempts``-th failure, at most six hours."""
    delay: timedelta = FIRST_BACKOFF * 2 ** max(attempts - 1, 0)
    return min(delay, MAX_BACKOFF)


class MailQueue:
    def __init__(self, *, engine: AsyncEngine, pepper: Pepper, postman: Postman) -> None:
        self._engine = engine
        self._writes = writes_for(engine)
        key = bytes.fromhex(pepper.digest("mail-queue-key", "v1"))
        self._fernet = Fernet(base64.urlsafe_b64encode(key))
        self._postman = postman

    async def enqueue(
        self,
        kind: MailKind,
        *,
        recipient: str,
        lang: Lang,
        reference: str,
        subject_cn: str,
        secret: str,
        not_before: datetime,
    ) -> int:
        async with self._writes.unit() as session:
            connection = await session.connection()
            result = await connection.execute(
                sa.insert(QueuedMail)
                .values(
                    kind=kind,
                    recipient=recipient,
                    language=lang,
                    reference=reference,
                    subject_cn=subject_cn[:64],
                    secret=self._fernet.encrypt(secret.encode()).decode(),
                    status=QueuedStatus.PENDING,
                    attempts=0,
                    not_before=not_before,
                    created_at=utcnow(),
                )
                .returning(col(QueuedMail.id))
            )
            record_id: int | None = result.scalar_one()
            assert record_id is not None
            return record_id

    async def send_due(self, *, now: datetime | None = None) -> QueueReport:
        """Send every row due at ``now`` (default: the wall clock) that this process claims."""
        now = now or utcnow()
        due = (
            sa.select(col(QueuedMail.id), col(QueuedMail.status), col(QueuedMail.attempts))
            .where(
                sa.or_(
                    sa.and_(
                        col(QueuedMail.status).in_([QueuedStatus.PENDING, QueuedStatus.FAILED]),
                        col(QueuedMail.not_before) <= now,
                    ),
                    sa.and_(
                        col(QueuedMail.status) == QueuedStatus.SENDING,
                        col(QueuedMail.claimed_at) <= now - CLAIM_LEASE,
                    ),
                )
            )
            .order_by(col(QueuedMail.not_before))
            .limit(100)
        )
        async with read_connection(self._engine) as connection:
            rows = (await connection.execute(due)).all()
        counts = {"sent": 0, "failed": 0, "undeliverable": 0}
        for row in rows:
            outcome = await self._send_one(row.id, row.status, row.attempts, now)
            if outcome is not None:
                counts[outcome] += 1
        return QueueReport(**counts)

    async def _send_one(
        self, record_id: int, status: str, attempts: int, now: datetime
    ) -> str | None:
        async with self._writes.unit() as session:
            connection = await session.connection()
            claimed = await connection.execute(
                sa.update(QueuedMail)
                .where(
                    col(QueuedMail.id) == record_id,
                    col(QueuedMail.status) == status,
                    col(QueuedMail.attempts) == attempts,
                )
                .values(status=QueuedStatus.SENDING, attempts=attempts + 1, claimed_at=now)
                .returning(
                    col(QueuedMail.kind),
                    col(QueuedMail.recipient),
                    col(QueuedMail.language),
                    col(QueuedMail.reference),
                    col(QueuedMail.subject_cn),
                    col(QueuedMail.secret),
                )
            )
            row = claimed.one_or_none()
        if row is None:
            return None  # another process has it
        attempt = attempts + 1
        error, permanent = None, False
        try:
            secret = self._fernet.decrypt(row.secret.encode()).decode()
        except InvalidToken:
            error, permanent = "the queued code cannot be decrypted: the secret key changed", True
        else:
            lang: Lang = row.language if row.language in LANGUAGES else "en"
            message = self._postman.compose(
                row.kind,
                lang,
                to=row.recipient,
                values={"cn": row.subject_cn, "reference": row.reference, "secret": secret},
            )
            try:
                await self._postman.send(message, keep=False)
            except MailFailed as failure:
                error, permanent = failure.message, failure.permanent
        return await self._record(record_id, attempt, row.reference, error, permanent)

    async def _record(
        self, record_id: int, attempt: int, reference: str, error: str | None, permanent: bool
    ) -> str:
        now = utcnow()
        if error is None:
            outcome, values = "sent", {"status": QueuedStatus.SENT, "sent_at": now}
            values["secret"] = SENT_SECRET
        elif permanent or attempt >= MAX_ATTEMPTS:
            outcome, values = "undeliverable", {"status": QueuedStatus.UNDELIVERABLE}
        else:
            outcome = "failed"
            values = {"status": QueuedStatus.FAILED, "not_before": now + backoff(attempt)}
        async with self._writes.unit() as session:
            connection = await session.connection()
            await connection.execute(
                sa.update(QueuedMail)
                .where(col(QueuedMail.id) == record_id, col(QueuedMail.attempts) == attempt)
                .values(last_error=error, **values)
            )
            if outcome == "undeliverable":
                await connection.execute(
                    sa.insert(AuditEvent).values(
                        at=now,
                        actor="system",
                        action="mail.undeliverable",
                        target=reference,
                        outcome="failed",
                        detail={"queued_mail": record_id, "attempts": attempt, "error": error},
                    )
                )
        log.log(
            logging.INFO if error is None else logging.WARNING,
            "queued mail %s",
            outcome,
            extra={"queued_mail": record_id, "attempt": attempt, "error": error},
        )
        return outcome
