"""What RA staff read: one holder's certificates and waiting enrollments, and the desk's
numbers. Shared by Slack's ``/ra status`` / ``/ra stats`` and ``certdesk ra status|list|stats``,
so both answer from the same queries; each caller audits the read as ``ra.status`` /
``ra.stats`` / ``ra.list``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.escalation import Escalations
from bot.unanswered import UnansweredLog
from enrollment.queries import CertificateView, EnrollmentQueries, EnrollmentView, Stats

COUNT_LIMIT = 1000
"""Open escalations and unanswered questions are counted up to this many."""


@dataclass(frozen=True, slots=True, kw_only=True)
class HolderStatus:
    certificates: list[CertificateView]
    pending: list[EnrollmentView]


async def holder_status(
    queries: EnrollmentQueries, *, slack_user: str | None = None, email: str | None = None
) -> HolderStatus:
    """A holder's certificates (the one expiring last first) and pending enrollments, by
    Slack user or by registered e-mail address."""
    if slack_user is not None:
        return HolderStatus(
            certificates=await queries.certificates_of(slack_user),
            pending=await queries.pending_enrollments_of(slack_user),
        )
    if email is None:
        raise TypeError("holder_status needs slack_user or email")
    enrollments = await queries.enrollments_by_email(email)
    return HolderStatus(
        certificates=await queries.certificates_by_email(email),
        pending=[e for e in enrollments if e.status == "pending"],
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class DeskStats:
    numbers: Stats
    open_escalations: int
    unanswered: int


async def desk_stats(
    queries: EnrollmentQueries, escalations: Escalations, unanswered: UnansweredLog
) -> DeskStats:
    return DeskStats(
        numbers=await queries.stats(),
        open_escalations=len(await escalations.open_escalations(limit=COUNT_LIMIT)),
        unanswered=len(await unanswered.pending(limit=COUNT_LIMIT)),
    )


def _when(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def enrollment_json(view: EnrollmentView) -> dict[str, Any]:
    return {
        "kind": "enrollment",
        "reference_number": view.reference_number,
        "status": "locked" if view.locked else view.status,
        "cn": view.cn,
        "ous": list(view.ous),
        "o": view.o,
        "email": view.email,
        "slack_user": view.slack_user,
        "profile": view.profile,
        "failed_attempts": view.failed_attempts,
        "created_at": _when(view.created_at),
    }


def certificate_json(view: CertificateView, *, now: datetime) -> dict[str, Any]:
    return {
        "kind": "certificate",
        "serial": view.serial,
        "status": view.status,
        "cn": view.cn,
        "ous": list(view.ous),
        "o": view.o,
        "owner_email": view.owner_email,
        "owner_slack_user": view.owner_slack_user,
        "not_before": _when(view.not_before),
        "not_after": _when(view.not_after),
        "days_left": view.days_left(now),
    }


def stats_json(stats: DeskStats) -> dict[str, int]:
    numbers = stats.numbers
    return {
        "enrollments_pending": numbers.enrollments_pending,
        "enrollments_locked": numbers.enrollments_locked,
        "enrollments_issued": numbers.enrollments_issued,
        "certificates_active": numbers.certificates_active,
        "certificates_expiring": numbers.certificates_expiring,
        "expiring_within_days": numbers.expiring_within // timedelta(days=1),
        "certificates_revoked": numbers.certificates_revoked,
        "open_escalations": stats.open_escalations,
        "unanswered_questions": stats.unanswered,
    }
