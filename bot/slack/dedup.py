"""Slack delivers an event again when it does not see a 200 within 3 seconds (up to three
retries, with ``X-Slack-Retry-Num``). With several ``web`` processes, a retry may reach another
process than the first delivery. The ledger makes each event ID count once: the process whose
INSERT of the ID succeeds handles it; every other delivery hits the primary key and is dropped.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta

from prometheus_client import Counter
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col

from bot.models import SlackEvent
from common.time import utcnow
from enrollment.db import session_factory

log = logging.getLogger(__name__)

DUPLICATES = Counter(
    "certdesk_slack_duplicate_events", "Slack event deliveries dropped as already handled"
)
KEEP = timedelta(days=1)  # Slack retries within minutes; a day is plenty.
PRUNE_EVERY_SECONDS = 3600.0


class EventLedger:
    """Claims Slack event IDs in the shared database."""

    def __init__(self, *, engine: AsyncEngine) -> None:
        self._sessions = session_factory(engine)
        self._last_prune = 0.0

    async def claim(self, event_id: str) -> bool:
        """True for the first delivery of ``event_id`` across every process, False after."""
        try:
            async with self._sessions() as session, session.begin():
                session.add(SlackEvent(event_id=event_id[:64]))
        except IntegrityError:
            return False
        if time.monotonic() - self._last_prune > PRUNE_EVERY_SECONDS:
            self._last_prune = time.monotonic()
            await self.prune()
        return True

    async def prune(self) -> int:
        async with self._sessions() as session, session.begin():
            result = await session.execute(
                delete(SlackEvent).where(col(SlackEvent.received_at) < utcnow() - KEEP)
            )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def middleware(
        self,
        req: AsyncBoltRequest,
        resp: BoltResponse,
        next: Callable[[], Awaitable[BoltResponse]],
    ) -> BoltResponse:
        """A bolt global middleware: events already claimed are acknowledged and dropped."""
        body = req.body
        event_id = body.get("event_id") if body.get("type") == "event_callback" else None
        if isinstance(event_id, str) and event_id and not await self.claim(event_id):
            DUPLICATES.inc()
            retry = req.headers.get("x-slack-retry-num", ["0"])[0]
            log.info("duplicate Slack event dropped", extra={"event_id": event_id, "retry": retry})
            return BoltResponse(status=200, body="")
        return await next()
