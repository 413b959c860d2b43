"""Read-only questions about enrollments and certificates, for the bot and its App Home.

Nothing here writes; every answer is a frozen view, never a live table row, so callers (and the
pure dialog that renders them) cannot change the store by accident.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

from sqlalchemy import ColumnElement, func
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select
from sqlmodel.sql.expression import SelectOfScalar

from common.time import days_left, utcnow
from enrollment import codes
from enrollment.models import (
    Certificate,
    CertificateStatus,
    Enrollment,
    EnrollmentStatus,
    SubjectBase,
)
from enrollment.reads import read_session

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

DEFAULT_LIMIT = 50

_View = TypeVar("_View", bound="DataclassInstance")
_Row = TypeVar("_Row", Enrollment, Certificate)

_Order: TypeAlias = tuple[Any, ...]
"""A listing's ``ORDER BY`` columns (``col(...)``, ``.desc()``), the row id last to break ties."""
_NEWEST_ENROLLMENTS: _Order = (col(Enrollment.created_at).desc(), col(Enrollment.id).desc())
_LAST_EXPIRING: _Order = (col(Certificate.not_after).desc(), col(Certificate.id).desc())
_SOONEST_EXPIRING: _Order = (col(Certificate.not_after), col(Certificate.id))


def _view(cls: type[_View], row: SubjectBase, **computed: Any) -> _View:
    """A frozen view of ``row``: the subject as ``cn``/``ous``/``o``, ``computed`` fields, and
    every other field from the row's column of the same name."""
    subject = {"cn": row.subject_cn, "ous": tuple(row.subject_ous), "o": row.subject_o}
    given = subject | computed
    copied = {f.name: getattr(row, f.name) for f in fields(cls) if f.name not in given}
    return cls(**given, **copied)


@dataclass(frozen=True, slots=True, kw_only=True)
class EnrollmentView:
    reference_number: str
    cn: str
    ous: tuple[str, ...]
    o: str | None
    slack_user: str | None
    status: str
    locked: bool
    failed_attempts: int
    created_at: datetime
    email: str | None = None
    profile: str | None = None

    @classmethod
    def of(cls, row: Enrollment) -> EnrollmentView:
        return _view(cls, row, locked=row.locked_at is not None)


@dataclass(frozen=True, slots=True, kw_only=True)
class CertificateView:
    serial: str
    cn: str
    ous: tuple[str, ...]
    o: str | None
    owner_slack_user: str | None
    status: str
    not_before: datetime
    not_after: datetime
    friendly_name: str | None
    owner_email: str | None = None

    @classmethod
    def of(cls, row: Certificate) -> CertificateView:
        return _view(cls, row)

    def days_left(self, now: datetime) -> int:
        return days_left(self.not_after, now)


@dataclass(frozen=True, slots=True, kw_only=True)
class Stats:
    enrollments_pending: int
    enrollments_locked: int
    enrollments_issued: int
    certificates_active: int
    certificates_expiring: int
    certificates_revoked: int
    expiring_within: timedelta


class EnrollmentQueries:
    """Read-only queries over the enrollment store."""

    def __init__(self, *, engine: AsyncEngine) -> None:
        self._engine = engine

    async def enrollments_of(self, slack_user: str) -> list[EnrollmentView]:
        """Every enrollment created for ``slack_user``, newest first."""
        return await self._enrollments(col(Enrollment.slack_user) == slack_user)

    async def enrollments_by_email(self, email: str) -> list[EnrollmentView]:
        """Every enrollment registered with ``email`` (case-insensitive), newest first."""
        return await self._enrollments(func.lower(col(Enrollment.email)) == email.strip().lower())

    async def certificates_by_email(self, email: str) -> list[CertificateView]:
        """Every certificate whose owner's address is ``email``, the one expiring last first."""
        return await self._certificates(
            func.lower(col(Certificate.owner_email)) == email.strip().lower()
        )

    async def enrollments_with_status(
        self, status: str | None, *, limit: int = DEFAULT_LIMIT
    ) -> list[EnrollmentView]:
        """Enrollments in ``status`` (``locked``: locked ones; None: all), newest first."""
        where: list[ColumnElement[bool]] = []
        if status == "locked":
            where.append(col(Enrollment.locked_at).is_not(None))
        elif status is not None:
            where.append(col(Enrollment.status) == status)
        return await self._enrollments(*where, limit=limit)

    async def certificates_with_status(
        self,
        status: str | None,
        *,
        expiring_within: timedelta | None = None,
        now: datetime | None = None,
        limit: int = DEFAULT_LIMIT,
    ) -> list[CertificateView]:
        """Certificates in ``status`` (None: all); with ``expiring_within``, only those still
        valid at ``now`` that expire within it, the soonest first."""
        where: list[ColumnElement[bool]] = []
        if status is not None:
            where.append(col(Certificate.status) == status)
        if expiring_within is None:
            return await self._certificates(*where, limit=limit)
        now = now or utcnow()
        where += [
            col(Certificate.not_after) > now,
            col(Certificate.not_after) <= now + expiring_within,
        ]
        return await self._certificates(*where, order=_SOONEST_EXPIRING, limit=limit)

    async def pending_enrollments_of(self, slack_user: str) -> list[EnrollmentView]:
        return [e for e in await self.enrollments_of(slack_user) if e.status == "pending"]

    async def certificates_of(self, slack_user: str) -> list[CertificateView]:
        """Every certificate owned by ``slack_user``, the one expiring last first."""
        return await self._certificates(col(Certificate.owner_slack_user) == slack_user)

    async def enrollment(self, reference_number: str) -> EnrollmentView | None:
        normalized = codes.normalize_reference(reference_number)
        if not normalized:
            return None
        found = await self._enrollments(col(Enrollment.reference_number) == normalized)
        return found[0] if found else None

    async def certificate(self, serial: str) -> CertificateView | None:
        normalized = serial.strip().lower().replace(":", "").removeprefix("0x").lstrip("0")
        if not normalized:
            return None
        found = await self._certificates(col(Certificate.serial) == normalized)
        return found[0] if found else None

    async def pending_enrollments(self, *, limit: int = DEFAULT_LIMIT) -> list[EnrollmentView]:
        """Pending enrollments that are not locked, oldest first (the ones waiting longest)."""
        return await self._enrollments(
            col(Enrollment.status) == EnrollmentStatus.PENDING,
            col(Enrollment.locked_at).is_(None),
            order=(col(Enrollment.created_at), col(Enrollment.id)),
            limit=limit,
        )

    async def locked_enrollments(self, *, limit: int = DEFAULT_LIMIT) -> list[EnrollmentView]:
        return await self._enrollments(
            col(Enrollment.locked_at).is_not(None),
            order=(col(Enrollment.locked_at), col(Enrollment.id)),
            limit=limit,
        )

    async def stats(
        self, *, now: datetime | None = None, expiring_within: timedelta = timedelta(days=30)
    ) -> Stats:
        now = now or utcnow()
        async with read_session(self._engine) as session:

            async def count(
                model: type[Enrollment] | type[Certificate], *where: ColumnElement[bool]
            ) -> int:
                statement = select(func.count()).select_from(model).where(*where)
                return int((await session.execute(statement)).scalar_one())

            return Stats(
                enrollments_pending=await count(
                    Enrollment,
                    col(Enrollment.status) == EnrollmentStatus.PENDING,
                    col(Enrollment.locked_at).is_(None),
                ),
                enrollments_locked=await count(Enrollment, col(Enrollment.locked_at).is_not(None)),
                enrollments_issued=await count(
                    Enrollment, col(Enrollment.status) == EnrollmentStatus.ISSUED
                ),
                certificates_active=await count(
                    Certificate,
                    col(Certificate.status) == CertificateStatus.ACTIVE,
                    col(Certificate.not_after) > now,
                ),
                certificates_expiring=await count(
                    Certificate,
                    col(Certificate.status) == CertificateStatus.ACTIVE,
                    col(Certificate.not_after) > now,
                    col(Certificate.not_after) <= now + expiring_within,
                ),
                certificates_revoked=await count(
                    Certificate, col(Certificate.status) == CertificateStatus.REVOKED
                ),
                expiring_within=expiring_within,
            )

    async def _enrollments(
        self,
        *where: ColumnElement[bool],
        order: _Order = _NEWEST_ENROLLMENTS,
        limit: int | None = None,
    ) -> list[EnrollmentView]:
        statement = select(Enrollment).where(*where).order_by(*order).limit(limit)
        return [EnrollmentView.of(row) for row in await self._rows(statement)]

    async def _certificates(
        self,
        *where: ColumnElement[bool],
        order: _Order = _LAST_EXPIRING,
        limit: int | None = None,
    ) -> list[CertificateView]:
        statement = select(Certificate).where(*where).order_by(*order).limit(limit)
        return [CertificateView.of(row) for row in await self._rows(statement)]

    async def _rows(self, statement: SelectOfScalar[_Row]) -> Sequence[_Row]:
        async with read_session(self._engine) as session:
            return (await session.execute(statement)).scalars().all()
