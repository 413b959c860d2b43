"""The local outbox: reminders delivered while Slack is off, for the local chat to show.

``LocalNotifier`` (bot/notify.py) writes one row per delivered reminder; the local chat page
reads them back with ``LocalOutbox.recent``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import Field, SQLModel, col, select

from common.time import utcnow
from enrollment.reads import read_session
from enrollment.types import UTCDateTime
from enrollment.writer import writes_for


class LocalNotification(SQLModel, table=True):
    __tablename__ = "local_notification"

    id: int | None = Field(default=None, primary_key=True)
    recipient: str | None = Field(default=None, max_length=254, index=True)
    certificate_serial: str = Field(max_length=64)
    kind: str = Field(max_length=16)
    text: str = Field(sa_type=sa.Text)
    created_at: datetime = Field(
        default_factory=utcnow, sa_type=UTCDateTime, nullable=False, index=True
    )


class LocalOutbox:
    """Reads and writes ``local_notification`` rows."""

    def __init__(self, *, engine: AsyncEngine) -> None:
        self._engine = engine
        self._writes = writes_for(engine)

    async def add(
        self, *, recipient: str | None, certificate_serial: str, kind: str, text: str
    ) -> None:
        async with self._writes.unit() as session:
            session.add(
                LocalNotification(
                    recipient=recipient,
                    certificate_serial=certificate_serial,
                    kind=kind,
                    text=text,
                )
            )

    async def recent(
        self, *, recipient: str | None = None, limit: int = 20
    ) -> Sequence[LocalNotification]:
        """The newest notifications, newest first; only ``recipient``'s when given."""
        query = select(LocalNotification)
        if recipient is not None:
            query = query.where(col(LocalNotification.recipient) == recipient)
        query = query.order_by(
            col(LocalNotification.created_at).desc(), col(LocalNotification.id).desc()
        ).limit(limit)
        async with read_session(self._engine) as session:
            return (await session.execute(query)).scalars().all()
