"""One reminder pass: load the candidates, decide what is due, claim, deliver, record.

Claiming
    Before delivering a reminder, a pass claims it in a transaction of its own:

    * a first attempt INSERTs the reminder's ``reminder_sent`` row (outcome ``pending``). The
      row is unique per (certificate, threshold), and the insert is
      ``INSERT … ON CONFLICT DO NOTHING RETURNING id``: when another clock inserted the row
      first, the database reports the duplicate key by returning nothing, and this pass skips
      the reminder (result ``claimed_elsewhere``);
    * a retry takes a ``failed`` (or stale ``pending``) row over with
      ``UPDATE … SET attempts = n + 1 WHERE id = … AND attempts = n AND outcome IN (…)``: of
      several clocks trying, exactly one updates the row.

    Only the clock that claimed a reminder delivers it, so passes running at the same time, in
    one process or in many, on SQLite or on PostgreSQL, deliver each reminder once.

Recording
    After delivery the row becomes ``sent`` (with ``sent_at``), ``failed`` (a transient error,
    retried by a later pass after ``ReminderPolicy.retry_delay``), or ``undeliverable`` (a
    permanent error, or the last of ``max_attempts`` failed), with the error in ``last_error``.
    The update is conditional on the claim (row id and attempt number), so a pass whose claim
    was taken over never overwrites the newer attempt's outcome.

What can go wrong, and what happens
    * The notifier raises ``DeliveryError`` (transient), times out after ``delivery_timeout``,
      or raises anything else: ``failed``, retried with a doubling backoff.
    * The notifier raises ``DeliveryError(permanent=True)`` (no such Slack user, …):
      ``undeliverable`` at once.
    * The process dies, or the pass is cancelled, between claim and record: the row stays
      ``pending``; once it is older than ``ReminderPolicy.claim_lease`` a later pass takes it
      over. If the message had reached Slack just before the crash, the owner sees it twice:
      delivery is exactly once between concurrent clocks, and at least once across crashes.
      ``claim_lease`` is checked to be well above ``delivery_timeout``, so a slow but live
      delivery is never taken over.
    * The database fails: the pass raises; claims already made stay consistent.

``dry_run`` decides and reports but claims and delivers nothing.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import os
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol, runtime_checkable

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.orm import aliased
from sqlmodel import col

from common.time import DAY, utcnow
from enrollment.models import AuditEvent, Certificate, CertificateStatus
from enrollment.reads import read_connection
from enrollment.writer import writes_for
from scheduler import metrics
from scheduler.errors import DeliveryError
from scheduler.models import ReminderSent
from scheduler.policy import (
    EXPIRED_NOTICE,
    CertificateFacts,
    Outcome,
    Reminder,
    ReminderPolicy,
    ReminderRecord,
    due_reminders,
)

log = logging.getLogger(__name__)


class Notifier(Protocol):
    """Delivers reminders to their owners; bot/notify.py has the implementations.

    ``notify`` returns when the reminder was delivered and raises ``DeliveryError`` when it was
    not (``permanent=True`` when retrying cannot help). Any other exception counts as a
    transient failure.
    """

    @property
    def channel(self) -> str:
        """A short name recorded with each reminder, e.g. ``"slack"``."""
        ...

    async def notify(self, reminder: Reminder) -> None: ...


@runtime_checkable
class RoutingNotifier(Notifier, Protocol):
    """A notifier that picks a channel per reminder (Slack for Slack owners, mail for owners
    with only an address); the channel each reminder went by is recorded with its row."""

    def channel_for(self, reminder: Reminder) -> str: ...


def default_worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:128]


@dataclass(frozen=True, slots=True, kw_only=True)
class RunConfig:
    """How passes run; validated at construction."""

    policy: ReminderPolicy = field(default_factory=ReminderPolicy)
    delivery_timeout: timedelta = timedelta(seconds=60)
    concurrency: int = 4
    worker: str = field(default_factory=default_worker_name)

    def __post_init__(self) -> None:
        if self.delivery_timeout <= timedelta(0):
            raise ValueError("delivery_timeout must be positive")
        if self.policy.claim_lease < 2 * self.delivery_timeout:
            raise ValueError(
                f"the policy's claim_lease ({self.policy.claim_lease}) must be at least twice "
                f"delivery_timeout ({self.delivery_timeout}), or a slow delivery could be "
                "taken over and sent twice"
            )
        if not 1 <= self.concurrency <= 64:
            raise ValueError("concurrency must be between 1 and 64")
        if not self.worker or len(self.worker) > 128:
            raise ValueError("worker must be a name of 1 to 128 characters")


class Result(enum.StrEnum):
    """What a pass did with one due reminder."""

    SENT = "sent"
    FAILED = "failed"
    UNDELIVERABLE = "undeliverable"
    CLAIMED_ELSEWHERE = "claimed_elsewhere"
    DUE = "due"
    """Dry run: due, neither claimed nor sent."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ReminderResult:
    reminder: Reminder
    result: Result
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        cert = self.reminder.certificate
        return {
            "certificate_id": cert.certificate_id,
            "serial": cert.serial,
            "subject_cn": cert.subject_cn,
            "owner_slack_user": cert.owner_slack_user,
            "owner_email": cert.owner_email,
            "not_after": cert.not_after.isoformat(),
            "threshold_days": self.reminder.threshold_days,
            "kind": str(self.reminder.kind),
            "days_left": self.reminder.days_left,
            "attempt": self.reminder.attempt,
            "result": str(self.result),
            "error": self.error,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class PassReport:
    as_of: datetime
    dry_run: bool
    candidates: int  # near expiry, their reminder not settled (what the selection returned)
    results: tuple[ReminderResult, ...]
    seconds: float

    def count(self, result: Result) -> int:
        return sum(1 for r in self.results if r.result == result)

    @property
    def delivery_failed(self) -> bool:
        return any(r.result in (Result.FAILED, Result.UNDELIVERABLE) for r in self.results)

    def as_dict(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            "dry_run": self.dry_run,
            "candidates": self.candidates,
            "due": len(self.results),
            **{str(result): self.count(result) for result in Result if result != Result.DUE},
            "seconds": round(self.seconds, 3),
            "reminders": [r.as_dict() for r in self.results],
        }


@dataclass(frozen=True, slots=True)
class _Claim:
    record_id: int
    attempt: int


class ReminderRunner:
    """Runs reminder passes against one database through one notifier.

    ``await runner.run_pass()`` runs a pass now; ``run_pass(as_of=next_week, dry_run=True)``
    reports what would be due then without claiming or sending anything.
    """

    def __init__(
        self, *, engine: AsyncEngine, notifier: Notifier, config: RunConfig | None = None
    ) -> None:
        if engine.dialect.name not in ("sqlite", "postgresql"):
            raise ValueError(f"reminders need SQLite or PostgreSQL, not {engine.dialect.name}")
        self._engine = engine
        self._writes = writes_for(engine)  # on SQLite the one writer (group commit)
        self.notifier = notifier
        self.config = config or RunConfig()

    @property
    def engine(self) -> AsyncEngine:
        return self._engine

    @property
    def policy(self) -> ReminderPolicy:
        return self.config.policy

    async def run_pass(self, *, as_of: datetime | None = None, dry_run: bool = False) -> PassReport:
        """One pass at ``as_of`` (default: now). Retry timing always follows the wall clock."""
        started = time.perf_counter()
        now = utcnow()
        if as_of is None:
            as_of = now
        elif as_of.tzinfo is None or as_of.utcoffset() is None:
            raise ValueError(f"as_of must be timezone-aware, got naive {as_of!r}")
        certificates, records = await self._load(as_of)
        due = due_reminders(certificates, records, policy=self.policy, as_of=as_of, now=now)
        if dry_run:
            results = tuple(ReminderResult(reminder=r, result=Result.DUE) for r in due)
        else:
            results = await self._handle_all(due)
        seconds = time.perf_counter() - started
        report = PassReport(
            as_of=as_of,
            dry_run=dry_run,
            candidates=len(certificates),
            results=results,
            seconds=seconds,
        )
        if not dry_run:
            metrics.PASS_SECONDS.observe(seconds)
        log.info(
            "reminder pass done",
            extra={
                "as_of": as_of.isoformat(),
                "dry_run": dry_run,
                "candidates": report.candidates,
                "due": len(results),
                "sent": report.count(Result.SENT),
                "failed": report.count(Result.FAILED),
                "undeliverable": report.count(Result.UNDELIVERABLE),
                "claimed_elsewhere": report.count(Result.CLAIMED_ELSEWHERE),
                "seconds": round(seconds, 3),
            },
        )
        return report

    # -- loading -------------------------------------------------------------------------

    async def _load(self, as_of: datetime) -> tuple[list[CertificateFacts], list[ReminderRecord]]:
        """The certificates whose reminder may be due at ``as_of``, and their record at the
        threshold they have reached (:func:`due_candidates`: SQL leaves out what is settled, the
        policy decides the rest), as plain rows in one read."""
        query = due_candidates(as_of, policy=self.policy)
        async with read_connection(self._engine) as connection:  # no write lock to read
            rows = (await connection.execute(query)).all()
        certificates = []
        records = []
        for row in rows:
            certificates.append(
                CertificateFacts(
                    certificate_id=row.id,
                    serial=row.serial,
                    subject_cn=row.subject_cn,
                    not_before=row.not_before,
                    not_after=row.not_after,
                    owner_slack_user=row.owner_slack_user,
                    owner_email=row.owner_email,
                    superseded_by=row.superseded_by,
                )
            )
            if row.record_id is not None:
                records.append(
                    ReminderRecord(
                        record_id=row.record_id,
                        certificate_id=row.id,
                        threshold_days=row.threshold_days,
                        outcome=Outcome(row.outcome),
                        attempts=row.attempts,
                        updated_at=row.updated_at,
                    )
                )
        return certificates, records

    # -- claim, deliver, record ------------------------------------------------------------

    async def _handle_all(self, due: Sequence[Reminder]) -> tuple[ReminderResult, ...]:
        results: list[ReminderResult | None] = [None] * len(due)
        slots = asyncio.Semaphore(self.config.concurrency)

        async def handle(index: int, reminder: Reminder) -> None:
            async with slots:
                results[index] = await self._handle(reminder)

        try:
            async with asyncio.TaskGroup() as group:
                for index, reminder in enumerate(due):
                    group.create_task(handle(index, reminder))
        except ExceptionGroup as failure:
            raise failure.exceptions[0] from failure
        return tuple(r for r in results if r is not None)

    async def _handle(self, reminder: Reminder) -> ReminderResult:
        claim = await self._claim(reminder)
        if claim is None:
            metrics.REMINDERS.labels(result=Result.CLAIMED_ELSEWHERE).inc()
            return ReminderResult(reminder=reminder, result=Result.CLAIMED_ELSEWHERE)
        error, permanent = await self._deliver(reminder)
        if error is None:
            outcome = Outcome.SENT
        elif permanent or claim.attempt >= self.policy.max_attempts:
            outcome = Outcome.UNDELIVERABLE
        else:
            outcome = Outcome.FAILED
        if not await self._record(claim, outcome, error, reminder):
            log.warning(
                "reminder claim was taken over before its outcome was recorded",
                extra={"record_id": claim.record_id, "attempt": claim.attempt},
            )
        result = Result(outcome.value)
        metrics.REMINDERS.labels(result=result).inc()
        log.log(
            logging.INFO if outcome == Outcome.SENT else logging.WARNING,
            "reminder %s",
            outcome.value,
            extra={
                "serial": reminder.certificate.serial,
                "owner_slack_user": reminder.certificate.owner_slack_user,
                "threshold_days": reminder.threshold_days,
                "attempt": claim.attempt,
                "channel": self._channel(reminder),
                "error": error,
            },
        )
        return ReminderResult(reminder=reminder, result=result, error=error)

    def _channel(self, reminder: Reminder) -> str:
        if isinstance(self.notifier, RoutingNotifier):
            return self.notifier.channel_for(reminder)
        return self.notifier.channel

    async def _claim(self, reminder: Reminder) -> _Claim | None:
        """Claim ``reminder`` in its own transaction; None when another clock has it."""
        async with self._writes.unit() as session:
            connection = await session.connection()
            if reminder.retry_of is None:
                return await self._claim_first(connection, reminder)
            return await self._claim_retry(connection, reminder)

    async def _claim_first(self, connection: AsyncConnection, reminder: Reminder) -> _Claim | None:
        now = utcnow()
        insert = postgresql.insert if self._engine.dialect.name == "postgresql" else sqlite.insert
        statement = (
            insert(ReminderSent)
            .values(
                certificate_id=reminder.certificate.certificate_id,
                threshold_days=reminder.threshold_days,
                channel=self._channel(reminder),
                outcome=Outcome.PENDING,
                attempts=1,
                claimed_by=self.config.worker,
                claimed_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing(index_elements=["certificate_id", "threshold_days"])
            .returning(col(ReminderSent.id))
        )
        record_id = (await connection.execute(statement)).scalar_one_or_none()
        return None if record_id is None else _Claim(record_id, 1)

    async def _claim_retry(self, connection: AsyncConnection, reminder: Reminder) -> _Claim | None:
        previous = reminder.retry_of
        assert previous is not None
        now = utcnow()
        taken = await connection.execute(
            sa.update(ReminderSent)
            .where(
                col(ReminderSent.id) == previous.record_id,
                col(ReminderSent.attempts) == previous.attempts,
                col(ReminderSent.outcome).in_([Outcome.FAILED, Outcome.PENDING]),
            )
            .values(
                outcome=Outcome.PENDING,
                attempts=previous.attempts + 1,
                channel=self._channel(reminder),
                claimed_by=self.config.worker,
                claimed_at=now,
                updated_at=now,
            )
        )
        if taken.rowcount != 1:
            return None
        return _Claim(previous.record_id, previous.attempts + 1)

    async def _deliver(self, reminder: Reminder) -> tuple[str | None, bool]:
        """Deliver; returns (error or None, whether the error is permanent)."""
        timeout = self.config.delivery_timeout.total_seconds()
        try:
            async with asyncio.timeout(timeout):
                await self.notifier.notify(reminder)
        except DeliveryError as exc:
            return exc.message[:500], exc.permanent
        except TimeoutError:
            return f"delivery timed out after {timeout:g} s", False
        except Exception as exc:  # a notifier bug must not stop the other reminders
            log.exception("notifier failed", extra={"serial": reminder.certificate.serial})
            return f"{type(exc).__name__}: {exc}"[:500], False
        return None, False

    async def _record(
        self, claim: _Claim, outcome: Outcome, error: str | None, reminder: Reminder
    ) -> bool:
        """The outcome, conditional on the claim; an undeliverable reminder is audited in the
        same transaction (``/ra stats`` counts them by channel)."""
        now = utcnow()
        async with self._writes.unit() as session:
            connection = await session.connection()
            result = await connection.execute(
                sa.update(ReminderSent)
                .where(
                    col(ReminderSent.id) == claim.record_id,
                    col(ReminderSent.attempts) == claim.attempt,
                    col(ReminderSent.outcome) == Outcome.PENDING,
                )
                .values(
                    outcome=outcome,
                    updated_at=now,
                    sent_at=now if outcome == Outcome.SENT else None,
                    last_error=error,
                )
            )
            recorded = result.rowcount == 1
            if recorded and outcome == Outcome.UNDELIVERABLE:
                await connection.execute(
                    sa.insert(AuditEvent).values(
                        at=now,
                        actor="system",
                        action="reminder.undeliverable",
                        target=reminder.certificate.serial,
                        outcome="failed",
                        detail={
                            "channel": self._channel(reminder),
                            "threshold_days": reminder.threshold_days,
                            "attempts": claim.attempt,
                            "error": error,
                        },
                    )
                )
            return recorded


def _in_window(earliest: datetime, latest: datetime) -> tuple[sa.ColumnElement[bool], ...]:
    return (
        col(Certificate.status) == CertificateStatus.ACTIVE,
        col(Certificate.not_after) >= earliest,
        col(Certificate.not_after) <= latest,
    )


def reached_threshold(as_of: datetime, policy: ReminderPolicy) -> sa.ColumnElement[int]:
    """The threshold a certificate in the window has reached at ``as_of``, by its expiry alone:
    the smallest threshold at least its remaining time, 0 once expired (what
    ``ReminderPolicy.threshold_at`` says before its lifetime rule, which the policy applies)."""
    not_after = col(Certificate.not_after)
    smaller_first = sorted(policy.thresholds)
    whens = [(not_after <= as_of, sa.literal(EXPIRED_NOTICE))]
    whens += [(not_after <= as_of + days * DAY, sa.literal(days)) for days in smaller_first[:-1]]
    return sa.case(*whens, else_=sa.literal(smaller_first[-1]))


def due_candidates(as_of: datetime, *, policy: ReminderPolicy) -> sa.Select[*tuple[Any, ...]]:
    """The active certificates in the window whose reminder may be due at ``as_of``, soonest
    first, each with the threshold it has reached and the record claimed for that threshold
    (``record_id`` … ``updated_at``, NULL when none).

    SQL leaves out only what the policy would never send: a certificate with a record for a
    more urgent threshold (rule 3), or whose record at its threshold is settled (sent,
    undeliverable) or out of attempts. Superseded rows are left to the policy (rule 1), so
    that the filtering reads only the index. What remains (mostly certificates that crossed a
    threshold since the last pass) goes to :func:`scheduler.policy.due_reminders`, which
    decides the lifetime rule and retry timing. The window is an equality on ``status`` and a
    range on ``not_after``, answered by the index ``ix_certificate_status_not_after``; the
    records by the unique (certificate, threshold) index.
    """
    earliest = as_of - policy.expired_notice_window
    latest = as_of + policy.horizon
    reached = reached_threshold(as_of, policy)
    at = aliased(ReminderSent, name="at_threshold")
    other = aliased(ReminderSent, name="settled")
    settled = sa.exists().where(  # one probe of the (certificate, threshold) index per row
        col(other.certificate_id) == col(Certificate.id),
        col(other.threshold_days) <= reached,
        sa.or_(
            col(other.threshold_days) < reached,
            col(other.outcome).in_([Outcome.SENT, Outcome.UNDELIVERABLE]),
            col(other.attempts) >= policy.max_attempts,
        ),
    )
    # Only the index's columns in WHERE (status, not_after, the id): SQLite reads a
    # certificate's row only for those that remain.
    return (
        sa.select(
            *_facts_columns(),
            reached.label("threshold_days"),
            col(at.id).label("record_id"),
            col(at.outcome),
            col(at.attempts),
            col(at.updated_at),
        )
        .outerjoin(
            at,
            sa.and_(
                col(at.certificate_id) == col(Certificate.id), col(at.threshold_days) == reached
            ),
        )
        .where(*_in_window(earliest, latest), ~settled)
        .order_by(col(Certificate.not_after))
    )


def _facts_columns() -> tuple[Any, ...]:
    """The certificate's columns a :class:`CertificateFacts` is made of (both selections)."""
    return (
        col(Certificate.id),
        col(Certificate.serial),
        col(Certificate.subject_cn),
        col(Certificate.not_before),
        col(Certificate.not_after),
        col(Certificate.owner_slack_user),
        col(Certificate.owner_email),
        col(Certificate.superseded_by),
    )


def candidates(earliest: datetime, latest: datetime) -> sa.Select[*tuple[Any, ...]]:
    """Every active certificate expiring between ``earliest`` and ``latest``, soonest first
    (the window :func:`due_candidates` narrows; the benchmark's "before")."""
    return (
        sa.select(*_facts_columns(), col(Certificate.status))
        .where(*_in_window(earliest, latest))
        .order_by(col(Certificate.not_after))
    )
