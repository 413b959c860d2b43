"""Escalations: a user's question handed to RA staff, and the thread that carries the talk.

The question is posted to the RA channel as a new message; that message's thread and the user's
DM are linked by a row in ``escalation``. Staff replies in the thread are relayed to the DM and
the user's DM messages to the thread, until someone presses "Resolved". A user has at most one
open escalation (a partial unique index holds that even when two clicks race).
"""

from __future__ import annotations

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select
from sqlmodel.sql.expression import SelectOfScalar

from bot.models import Escalation, EscalationPublic, EscalationStatus
from common.time import utcnow
from enrollment.reads import read_session
from enrollment.writer import writes_for


class Escalations:
    """The escalation store. Slack calls happen in the adapter; this only keeps the links."""

    def __init__(self, *, engine: AsyncEngine) -> None:
        self._engine = engine
        self._writes = writes_for(engine)

    async def start(
        self, *, user_id: str, user_channel: str, ra_channel: str, question: str, lang: str
    ) -> EscalationPublic | None:
        """Open an escalation, or return None when the user already has an open one."""
        row = Escalation(
            user_id=user_id,
            user_channel=user_channel,
            ra_channel=ra_channel,
            question=question[:4000],
            lang=lang,
        )
        try:
            async with self._writes.unit() as session:
                session.add(row)
        except IntegrityError:
            return None
        return EscalationPublic.model_validate(row)

    async def attach_thread(self, escalation_id: int, *, thread_ts: str) -> None:
        async with self._writes.unit() as session:
            await session.execute(
                update(Escalation)
                .where(col(Escalation.id) == escalation_id)
                .values(thread_ts=thread_ts)
            )

    async def abandon(self, escalation_id: int) -> None:
        """Forget an escalation whose message never reached the RA channel."""
        async with self._writes.unit() as session:
            await session.execute(delete(Escalation).where(col(Escalation.id) == escalation_id))

    async def open_for_user(self, user_id: str) -> EscalationPublic | None:
        statement = select(Escalation).where(
            col(Escalation.user_id) == user_id, col(Escalation.status) == EscalationStatus.OPEN
        )
        return await self._first(statement)

    async def by_thread(self, *, ra_channel: str, thread_ts: str) -> EscalationPublic | None:
        statement = select(Escalation).where(
            col(Escalation.ra_channel) == ra_channel, col(Escalation.thread_ts) == thread_ts
        )
        return await self._first(statement)

    async def get(self, escalation_id: int) -> EscalationPublic | None:
        return await self._first(select(Escalation).where(col(Escalation.id) == escalation_id))

    async def resolve(self, escalation_id: int, *, by: str) -> EscalationPublic | None:
        """Close an open escalation; None when it was closed already (a second click)."""
        async with self._writes.unit() as session:
            result = await session.execute(
                update(Escalation)
                .where(
                    col(Escalation.id) == escalation_id,
                    col(Escalation.status) == EscalationStatus.OPEN,
                )
                .values(status=EscalationStatus.RESOLVED, resolved_at=utcnow(), resolved_by=by)
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                return None
        return await self.get(escalation_id)

    async def open_escalations(self, *, limit: int = 50) -> list[EscalationPublic]:
        statement = (
            select(Escalation)
            .where(col(Escalation.status) == EscalationStatus.OPEN)
            .order_by(col(Escalation.created_at), col(Escalation.id))
            .limit(limit)
        )
        async with read_session(self._engine) as session:
            rows = (await session.execute(statement)).scalars().all()
        return [EscalationPublic.model_validate(row) for row in rows]

    async def _first(self, statement: SelectOfScalar[Escalation]) -> EscalationPublic | None:
        async with read_session(self._engine) as session:
            row = (await session.execute(statement)).scalars().first()
        return EscalationPublic.model_validate(row) if row is not None else None
