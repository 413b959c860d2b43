"""The durable Slack inbox: a request is acknowledged only once it is stored.

Each delivery -- an event (``event_callback``), or a command, action or view submission that
left slow work for after its acknowledgement -- becomes one ``slack_inbox`` row whose
``delivery_id`` is unique (the event ID; a fresh ID for the others). A retry from Slack, or the
same event reaching another process, hits that unique key and is dropped.

The row is stored already claimed by the process that received it (``claimed_by``, a lease
until ``lease_until``), which queues it for handling and marks it done once handled. A process
that dies leaves its rows claimed; once their lease has expired, any process's worker
(:mod:`.worker`) claims them again -- one statement,
``UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED) RETURNING`` on PostgreSQL, the same
``UPDATE … RETURNING`` under SQLite's write lock -- and handles them again. A failure releases
the row with a backoff (``due_at``); after :data:`MAX_ATTEMPTS` it is given up and logged.

Replies: :class:`Delivery` records the ``ts`` of each message posted for a row right after
Slack has it, so a second handling skips the messages already posted. What remains is the
window between Slack's answer to ``chat.postMessage`` and that record: a process that dies
there posts that message again when its row is handled again.

Writes from concurrent requests are committed together (:class:`_Batch`): the inserts of many
acknowledgements, the completions and the reply records queued while the previous commit ran
go into the next unit of the shared writer (:func:`enrollment.writer.writes_for`; on SQLite
committed with the other units queued meanwhile), and each waits for its commit before going
on.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, bindparam, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.models import SlackInboxItem
from common.time import utcnow
from enrollment.reads import read_connection
from enrollment.writer import writes_for

log = logging.getLogger(__name__)

INBOX: Table = SlackInboxItem.__table__  # type: ignore[attr-defined]
MAX_ATTEMPTS = 5
BACKOFF = (timedelta(seconds=2), timedelta(seconds=10), timedelta(seconds=30), timedelta(minutes=2))
KEEP = timedelta(days=1)  # Slack retries within minutes; a day of finished rows is plenty.
MAX_BATCH = 500
EVENT = "event"
REQUEST = "request"


def backoff(attempts: int) -> timedelta:
    """How long a row waits after its ``attempts``-th failed handling."""
    return BACKOFF[min(attempts, len(BACKOFF)) - 1]


@dataclass(frozen=True, slots=True, kw_only=True)
class Stored:
    """A row this process holds: to handle now (stored or claimed by it)."""

    id: int
    kind: str
    raw: str  # the body's JSON: a backlog of strings weighs little on the garbage collector
    attempts: int
    replies: tuple[str, ...] = ()

    @property
    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = json.loads(self.raw)
        return body


@dataclass(slots=True)
class _Batch:
    """The writes queued while the previous transaction committed."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    stored: list[asyncio.Future[int | None]] = field(default_factory=list)
    done: dict[int, str] = field(default_factory=dict)
    replies: dict[int, str] = field(default_factory=dict)
    committed: asyncio.Future[None] | None = None

    def __len__(self) -> int:
        return len(self.rows) + len(self.done) + len(self.replies)


@dataclass(slots=True, kw_only=True)
class Delivery:
    """The messages posted so far for one row: a second handling skips them."""

    inbox: Inbox
    row_id: int
    replies: list[str]
    next: int = 0

    def already_posted(self) -> str | None:
        """The ``ts`` of the next message if an earlier handling posted it, else None."""
        if self.next >= len(self.replies):
            return None
        ts = self.replies[self.next]
        self.next += 1
        return "" if ts == "-" else ts

    async def posted(self, ts: str) -> None:
        self.replies.append(ts or "-")
        self.next += 1
        await self.inbox.record_replies(self.row_id, self.replies)


CURRENT: ContextVar[Delivery | None] = ContextVar("slack_delivery", default=None)


def current_delivery() -> Delivery | None:
    """The inbox row being handled in this context, if any (see :meth:`Desk.post`)."""
    return CURRENT.get()


class Inbox:
    """The ``slack_inbox`` table, for one process (``owner`` names its claims)."""

    def __init__(self, *, engine: AsyncEngine, owner: str, lease: timedelta) -> None:
        self._engine = engine
        self.owner = owner
        self.lease = lease
        self._batch = _Batch()
        self._writer: asyncio.Task[None] | None = None
        dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
        # Compiled once and cached: executemany rows go into one multi-row INSERT per batch.
        self._store = (
            dialect.insert(INBOX)
            .on_conflict_do_nothing(index_elements=["delivery_id"])
            .returning(INBOX.c.delivery_id, INBOX.c.id)
        )
        self._finish = (
            update(INBOX)
            .where(INBOX.c.id == bindparam("row_id"))
            .values(done_at=bindparam("now"), outcome=bindparam("outcome"), lease_until=None)
        )
        self._replies = (
            update(INBOX).where(INBOX.c.id == bindparam("row_id")).values(replies=bindparam("text"))
        )

    # -- writes committed together -------------------------------------------------------

    async def store(
        self, delivery_id: str, kind: str, body: dict[str, Any], *, raw: str | None = None
    ) -> int | None:
        """Store a delivery claimed by this process (``raw``: ``body`` as the JSON it was read
        from, stored as it is); its row ID, or None when ``delivery_id`` is already stored (a
        retry, or another process got it first)."""
        now = utcnow()
        future: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        self._batch.rows.append(
            {
                "delivery_id": delivery_id[:64],
                "kind": kind,
                "body": raw if raw is not None else json.dumps(body, separators=(",", ":")),
                "received_at": now,
                "due_at": now,
                "attempts": 1,
                "claimed_by": self.owner,
                "lease_until": now + self.lease,
                "replies": "",
            }
        )
        self._batch.stored.append(future)
        await self._commit()
        return await future

    async def finish(self, row_id: int, *, outcome: str = "answered") -> None:
        self._batch.done[row_id] = outcome
        await self._commit()

    async def record_replies(self, row_id: int, replies: Sequence[str]) -> None:
        self._batch.replies[row_id] = " ".join(replies)
        await self._commit()

    async def _commit(self) -> None:
        batch = self._batch
        if batch.committed is None:
            batch.committed = asyncio.get_running_loop().create_future()
        committed = batch.committed
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._write_batches())
        await asyncio.shield(committed)

    async def _write_batches(self) -> None:
        while len(self._batch):
            batch, self._batch = self._batch, _Batch()
            assert batch.committed is not None
            try:
                await self._write(batch)
            except BaseException as exc:
                for future in batch.stored:
                    if not future.done():
                        future.set_exception(exc)
                batch.committed.set_exception(exc)
                if not isinstance(exc, Exception):
                    raise
            else:
                batch.committed.set_result(None)

    async def _write(self, batch: _Batch) -> None:
        """One unit of the shared writer (on SQLite, committed with the other units queued
        meanwhile): one multi-row insert per :data:`MAX_BATCH` rows, the completions and
        the reply records each one executemany."""
        rows = batch.rows
        ids: dict[str, int] = {}
        async with writes_for(self._engine).unit() as session:
            unique: dict[str, dict[str, Any]] = {}
            for row in rows:
                unique.setdefault(row["delivery_id"], row)
            values = list(unique.values())
            for start in range(0, len(values), MAX_BATCH):
                inserted = await session.execute(self._store, values[start : start + MAX_BATCH])
                ids.update((row.delivery_id, row.id) for row in inserted)
            if batch.done:
                now = utcnow()
                await session.execute(
                    self._finish,
                    [
                        {"row_id": row_id, "outcome": outcome, "now": now}
                        for row_id, outcome in batch.done.items()
                    ],
                )
            if batch.replies:
                await session.execute(
                    self._replies,
                    [{"row_id": row_id, "text": text} for row_id, text in batch.replies.items()],
                )
        # One delivery ID twice in a batch: the first request owns the row, the other is a
        # duplicate.
        for row, future in zip(rows, batch.stored, strict=True):
            future.set_result(ids.pop(row["delivery_id"], None))

    # -- claims, leases, retries ---------------------------------------------------------

    async def claim(self, limit: int) -> list[Stored]:
        """Take up to ``limit`` unfinished rows that are due and whose lease (if any) has
        expired: left by a process that died, or released for a retry."""
        now = utcnow()
        candidates = (
            select(INBOX.c.id)
            .where(
                INBOX.c.done_at.is_(None),
                INBOX.c.due_at <= now,
                or_(INBOX.c.lease_until.is_(None), INBOX.c.lease_until < now),
            )
            .order_by(INBOX.c.due_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        statement = (
            update(INBOX)
            .where(INBOX.c.id.in_(candidates.scalar_subquery()))
            .values(
                claimed_by=self.owner, lease_until=now + self.lease, attempts=INBOX.c.attempts + 1
            )
            .returning(INBOX.c.id, INBOX.c.kind, INBOX.c.body, INBOX.c.attempts, INBOX.c.replies)
        )
        async with writes_for(self._engine).unit() as connection:
            rows = (await connection.execute(statement)).all()
        return [
            Stored(
                id=row_id,
                kind=kind,
                raw=body,
                attempts=attempts,
                replies=tuple(replies.split()),
            )
            for row_id, kind, body, attempts, replies in sorted(rows)
        ]

    async def renew(self) -> None:
        """Extend the lease of every unfinished row this process holds."""
        async with writes_for(self._engine).unit() as connection:
            await connection.execute(
                update(INBOX)
                .where(INBOX.c.claimed_by == self.owner, INBOX.c.done_at.is_(None))
                .values(lease_until=utcnow() + self.lease)
            )

    async def release(self, item: Stored) -> None:
        """A failed handling: due again after a backoff, or given up after MAX_ATTEMPTS."""
        if item.attempts >= MAX_ATTEMPTS:
            log.error("Slack delivery given up", extra={"row": item.id, "attempts": item.attempts})
            await self.finish(item.id, outcome="failed")
            return
        async with writes_for(self._engine).unit() as connection:
            await connection.execute(
                update(INBOX)
                .where(INBOX.c.id == item.id)
                .values(lease_until=None, due_at=utcnow() + backoff(item.attempts))
            )

    async def hand_back(self, row_ids: Sequence[int]) -> None:
        """Rows this process will not handle (it is stopping): any process may take them now,
        without waiting for their lease."""
        async with writes_for(self._engine).unit() as connection:
            await connection.execute(
                update(INBOX)
                .where(INBOX.c.id.in_(row_ids), INBOX.c.claimed_by == self.owner)
                .values(lease_until=None)
            )

    async def prune(self, *, before: datetime | None = None) -> int:
        """Forget finished rows received before ``before`` (default: a day ago)."""
        async with writes_for(self._engine).unit() as connection:
            result = await connection.execute(
                delete(INBOX)
                .where(
                    INBOX.c.done_at.is_not(None),
                    INBOX.c.received_at < (before or utcnow() - KEEP),
                )
                .returning(INBOX.c.id)
            )
            return len(result.all())

    async def unfinished(self) -> int:
        async with read_connection(self._engine) as connection:
            rows = await connection.execute(select(INBOX.c.id).where(INBOX.c.done_at.is_(None)))
            return len(rows.all())
