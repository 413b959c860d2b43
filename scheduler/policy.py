"""Which renewal reminders are due: a pure function over plain data (no clock, no I/O).

A *threshold* is a number of days before expiry at which the owner is reminded (30, 14, 7 and 1
by default); threshold ``0`` is the final "expired" notice. A threshold ``t`` is *reached* when
``as_of >= not_after - t days``. A *record* is what the store knows about a reminder already
claimed for one (certificate, threshold) pair.

The rules, each with a test in ``tests/scheduler/test_policy.py``:

1. Only active certificates are reminded: never revoked ones, never superseded (renewed) ones.
2. At most one reminder per certificate and pass: the most urgent reached threshold. A
   certificate first seen five days before expiry gets the 7-day reminder only, not a burst of
   30, 14 and 7.
3. Each (certificate, threshold) is claimed at most once, and reminders for one certificate only
   become more urgent: a threshold less urgent than one already recorded is never sent.
4. A threshold as long as the certificate's whole lifetime or longer does not apply: a
   certificate valid for ten days is not told at issuance that it expires in ten days.
5. After expiry, one "expired" notice, and only within ``expired_notice_window`` of the expiry,
   so that the first pass after installing certdesk says nothing about long-dead certificates.
6. Retries: when delivering the reminder that rule 2 picks failed, it is retried after a backoff
   that doubles from ``retry_backoff`` up to ``max_retry_backoff``, in all at most
   ``max_attempts`` attempts. A claim still ``pending`` after ``claim_lease`` (its process died
   while delivering) is retried the same way. Retry timing follows the wall clock ``now``, not
   ``as_of``, so a pass run "as of" a later date does not take over another clock's fresh claim.
"""

from __future__ import annotations

import enum
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from common.time import DAY, days_left
from enrollment.models import CertificateStatus

EXPIRED_NOTICE = 0
"""The ``threshold_days`` of the final notice sent once a certificate has expired."""


class ReminderKind(enum.StrEnum):
    EXPIRING = "expiring"
    EXPIRED = "expired"


class Outcome(enum.StrEnum):
    """The state of a claimed reminder (the ``outcome`` column of ``reminder_sent``)."""

    PENDING = "pending"
    """Claimed; delivery in progress (or its process died: see ``claim_lease``)."""
    SENT = "sent"
    FAILED = "failed"
    """Delivery failed and will be retried by a later pass."""
    UNDELIVERABLE = "undeliverable"
    """Delivery failed for good (no such user, or ``max_attempts`` used up)."""


def _require_aware(name: str, value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (UTC), got naive {value!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class CertificateFacts:
    """What the policy needs to know about one certificate."""

    certificate_id: int
    serial: str
    subject_cn: str
    not_before: datetime
    not_after: datetime
    status: str = CertificateStatus.ACTIVE
    owner_slack_user: str | None = None
    owner_email: str | None = None
    superseded_by: str | None = None

    def __post_init__(self) -> None:
        _require_aware("not_before", self.not_before)
        _require_aware("not_after", self.not_after)

    @property
    def remindable(self) -> bool:
        return self.status == CertificateStatus.ACTIVE and self.superseded_by is None


@dataclass(frozen=True, slots=True, kw_only=True)
class ReminderRecord:
    """A reminder already claimed for (certificate_id, threshold_days)."""

    record_id: int
    certificate_id: int
    threshold_days: int
    outcome: Outcome
    attempts: int
    updated_at: datetime

    def __post_init__(self) -> None:
        _require_aware("updated_at", self.updated_at)


@dataclass(frozen=True, slots=True, kw_only=True)
class ReminderPolicy:
    """When to remind, validated at construction.

    >>> ReminderPolicy(thresholds=(7, 30, 14)).thresholds
    (30, 14, 7)
    """

    thresholds: tuple[int, ...] = (30, 14, 7, 1)
    expired_notice_window: timedelta = timedelta(days=30)
    max_attempts: int = 5
    retry_backoff: timedelta = timedelta(minutes=5)
    max_retry_backoff: timedelta = timedelta(hours=6)
    claim_lease: timedelta = timedelta(minutes=10)

    def __post_init__(self) -> None:
        if not self.thresholds:
            raise ValueError("thresholds must name at least one number of days, e.g. (30, 14, 7)")
        for days in self.thresholds:
            if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 3650:
                raise ValueError(f"threshold {days!r} must be a whole number of days, 1 to 3650")
        duplicates = sorted({d for d in self.thresholds if self.thresholds.count(d) > 1})
        if duplicates:
            raise ValueError(f"thresholds must differ; repeated: {duplicates}")
        object.__setattr__(self, "thresholds", tuple(sorted(self.thresholds, reverse=True)))
        if self.expired_notice_window < timedelta(0):
            raise ValueError("expired_notice_window must not be negative")
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.retry_backoff <= timedelta(0) or self.max_retry_backoff < self.retry_backoff:
            raise ValueError("retry_backoff must be positive and at most max_retry_backoff")
        if self.claim_lease <= timedelta(0):
            raise ValueError("claim_lease must be positive")

    @property
    def horizon(self) -> timedelta:
        """How far before expiry the first reminder can be due."""
        return self.thresholds[0] * DAY

    def threshold_at(self, certificate: CertificateFacts, as_of: datetime) -> int | None:
        """The most urgent threshold ``certificate`` has reached at ``as_of`` (rules 2, 4, 5)."""
        remaining = certificate.not_after - as_of
        if remaining <= timedelta(0):
            return EXPIRED_NOTICE if -remaining <= self.expired_notice_window else None
        lifetime = certificate.not_after - certificate.not_before
        reached = [t for t in self.thresholds if remaining <= t * DAY < lifetime]
        return min(reached) if reached else None

    def retry_delay(self, attempts: int) -> timedelta:
        """Wait after the ``attempts``-th failed attempt: doubling, capped."""
        factor: int = 2 ** min(max(attempts - 1, 0), 30)
        return min(self.retry_backoff * factor, self.max_retry_backoff)

    def retry_due(self, record: ReminderRecord, now: datetime) -> bool:
        """May a new attempt take over ``record`` at wall-clock time ``now`` (rule 6)?"""
        if record.attempts >= self.max_attempts:
            return False
        if record.outcome == Outcome.FAILED:
            return now >= record.updated_at + self.retry_delay(record.attempts)
        if record.outcome == Outcome.PENDING:
            return now >= record.updated_at + self.claim_lease
        return False


@dataclass(frozen=True, slots=True, kw_only=True)
class Reminder:
    """One reminder to deliver: the certificate, which threshold, and which attempt."""

    certificate: CertificateFacts
    threshold_days: int
    as_of: datetime
    attempt: int = 1
    retry_of: ReminderRecord | None = None

    @property
    def kind(self) -> ReminderKind:
        if self.threshold_days == EXPIRED_NOTICE:
            return ReminderKind.EXPIRED
        return ReminderKind.EXPIRING

    @property
    def days_left(self) -> int:
        return days_left(self.certificate.not_after, self.as_of)


def reminder_for(
    certificate: CertificateFacts,
    records: Mapping[int, ReminderRecord],
    *,
    policy: ReminderPolicy,
    as_of: datetime,
    now: datetime,
) -> Reminder | None:
    """The one reminder due for ``certificate``, given its records keyed by threshold."""
    if not certificate.remindable:
        return None
    threshold = policy.threshold_at(certificate, as_of)
    if threshold is None:
        return None
    if records and min(records) < threshold:
        return None  # a more urgent reminder was already claimed: never step back (rule 3)
    record = records.get(threshold)
    if record is None:
        return Reminder(certificate=certificate, threshold_days=threshold, as_of=as_of)
    if policy.retry_due(record, now):
        return Reminder(
            certificate=certificate,
            threshold_days=threshold,
            as_of=as_of,
            attempt=record.attempts + 1,
            retry_of=record,
        )
    return None


def due_reminders(
    certificates: Iterable[CertificateFacts],
    records: Iterable[ReminderRecord],
    *,
    policy: ReminderPolicy,
    as_of: datetime,
    now: datetime | None = None,
) -> list[Reminder]:
    """Every reminder due at ``as_of``, most urgent (earliest expiry) first.

    ``records`` are the reminders already claimed for these certificates; ``now`` is the wall
    clock for retry timing and defaults to ``as_of``.
    """
    _require_aware("as_of", as_of)
    now = as_of if now is None else now
    _require_aware("now", now)
    by_certificate: defaultdict[int, dict[int, ReminderRecord]] = defaultdict(dict)
    for record in records:
        by_certificate[record.certificate_id][record.threshold_days] = record
    due = [
        reminder
        for certificate in certificates
        if (
            reminder := reminder_for(
                certificate,
                by_certificate.get(certificate.certificate_id, {}),
                policy=policy,
                as_of=as_of,
                now=now,
            )
        )
        is not None
    ]
    due.sort(key=lambda r: (r.certificate.not_after, r.certificate.certificate_id))
    return due
