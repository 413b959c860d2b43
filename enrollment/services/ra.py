"""RA operations: create an enrollment, give it a new link, unlock it, audit what staff do."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Unpack

from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from common.time import utcnow
from enrollment import metrics
from enrollment.errors import EnrollmentNotPending
from enrollment.models import AuditEvent, Enrollment, EnrollmentStatus, LinkPurpose, OneTimeLink
from enrollment.services import creation
from enrollment.services._store import Store, audit
from enrollment.services.creation import Drawn, EnrollmentCreate, NewEnrollment
from enrollment.services.results import AuditFacts, NewLink
from enrollment.writer import GroupCommit

__all__ = ["EnrollmentCreate", "NewEnrollment", "RaOperations"]

_INSERT_ENROLLMENT = insert(Enrollment).returning(col(Enrollment.id))
_INSERT_AUDIT = insert(AuditEvent)
_INSERT_LINK = insert(OneTimeLink)


class RaOperations:
    """What RA staff do to enrollments (Slack `/ra`, `certdesk ra`); every change audited."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def create_enrollment(self, request: EnrollmentCreate, *, actor: str) -> NewEnrollment:
        """Create a pending enrollment with a fresh code and one-time download link."""
        (created,) = await self.create_enrollments([request], actor=actor)
        return created

    async def create_enrollments(
        self, requests: Sequence[EnrollmentCreate], *, actor: str
    ) -> list[NewEnrollment]:
        """Create one pending enrollment per request, all in one transaction: if any cannot
        be stored, none is (``certdesk ra issue --from-csv``)."""
        store = self._store
        created = await creation.create_enrollments(
            requests, pepper=store.pepper, config=store.config, actor=actor, store=self._stored
        )
        metrics.ENROLLMENTS_CREATED.inc(len(created))
        return created

    async def _stored(self, drawn: Sequence[Drawn]) -> list[int]:
        """The drawn enrollments in one unit: plain ``sqlite3`` on an embedded database file,
        the same values through SQLAlchemy Core elsewhere."""
        writes = self._store.writes
        if isinstance(writes, GroupCommit) and writes.lean:
            return await writes.run(creation.sqlite_unit(drawn))
        try:
            async with self._store.write() as session:
                ids = []
                for one in drawn:
                    inserted = await session.execute(_INSERT_ENROLLMENT, dict(one.enrollment))
                    enrollment_id = inserted.scalar_one()
                    assert enrollment_id is not None
                    await session.execute(_INSERT_AUDIT, dict(one.audit))
                    await session.execute(
                        _INSERT_LINK, {**one.link, "enrollment_id": enrollment_id}
                    )
                    ids.append(enrollment_id)
                return ids
        except IntegrityError as exc:
            raise creation.NotStored(str(exc)) from exc

    async def new_enrollment_link(self, reference_number: str, *, actor: str) -> NewLink:
        """A fresh one-time link for a pending enrollment (earlier links stay valid)."""
        store = self._store
        async with store.write() as session:
            enrollment = await store.existing_enrollment(session, reference_number)
            if enrollment.status != EnrollmentStatus.PENDING:
                raise EnrollmentNotPending(
                    f"Enrollment {reference_number} is {enrollment.status}; a new link is only "
                    "given for pending enrollments. Ask RA staff if you need a new certificate."
                )
            link = self._enrollment_link(session, enrollment)
            audit(session, actor=actor, action="link.create", target=reference_number)
            return link

    async def unlock(self, reference_number: str, *, actor: str) -> Enrollment:
        store = self._store
        async with store.write() as session:
            enrollment = await store.existing_enrollment(session, reference_number)
            was_locked = enrollment.locked_at is not None
            enrollment.locked_at = None
            enrollment.failed_attempts = 0
            enrollment.updated_at = utcnow()
            session.add(enrollment)
            audit(
                session,
                actor=actor,
                action="enrollment.unlock",
                target=reference_number,
                detail={"was_locked": was_locked},
            )
            return enrollment

    def _enrollment_link(self, session: AsyncSession, enrollment: Enrollment) -> NewLink:
        """A one-time download link for ``enrollment``, owned by its holder."""
        assert enrollment.id is not None
        return self._store.add_link(
            session,
            purpose=LinkPurpose.ENROLL,
            enrollment_id=enrollment.id,
            owner=enrollment.slack_user,
        )

    async def audit(self, *, actor: str, action: str, **facts: Unpack[AuditFacts]) -> None:
        """Record what staff looked at or were refused (changes audit themselves)."""
        async with self._store.write() as session:
            audit(session, actor=actor, action=action, **facts)
