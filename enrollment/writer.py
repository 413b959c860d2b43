"""Units of work: where every write of the enrollment domain goes.

A *unit* is one request's writes with its own checks::

    async with writes.unit() as session:
        ...  # statements; raising undoes this unit only

On the embedded SQLite, :class:`GroupCommit` runs every unit on one connection, one after the
other, each inside its own ``SAVEPOINT``, and commits the units that queued up meanwhile in one
transaction (group commit): one writer instead of a pool of connections fighting over SQLite's
busy handler. A unit that raises rolls back to its savepoint (the others in its batch stay); the
caller gets its own exception. A unit that finished leaves :meth:`unit` only once its batch is
committed, so nothing is answered before it is durable; a failed commit (the disk, the file)
reaches every unit of the batch as :class:`~enrollment.errors.StorageUnavailable`.

On PostgreSQL, :class:`PooledWrites` gives each unit its own transaction on the pool: the server
does the group commit, and row locks (``FOR UPDATE``) work as usual.

A unit must not wait for another unit (it would wait for itself), and should hold no slow work:
sign, generate keys and package before the unit, and only write in it.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections import deque
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from enrollment.db import UNAVAILABLE, session_factory, storage_failure
from enrollment.errors import StorageUnavailable

log = logging.getLogger(__name__)

MAX_BATCH = 64  # units per commit; with 16 requests in flight a batch rarely exceeds 16


class Writes(Protocol):
    """Where units of work go: :class:`GroupCommit` or :class:`PooledWrites`."""

    def unit(self) -> AbstractAsyncContextManager[AsyncSession]: ...


_WRITERS: weakref.WeakKeyDictionary[Engine, GroupCommit | PooledWrites] = (
    weakref.WeakKeyDictionary()
)


def writes_for(engine: AsyncEngine) -> GroupCommit | PooledWrites:
    """The writer of ``engine``'s database: one per engine, shared by every room that writes
    through it (the services, the reminder pass), so that SQLite has one writer."""
    writer = _WRITERS.get(engine.sync_engine)
    if writer is None:
        writer = GroupCommit(engine) if engine.dialect.name == "sqlite" else PooledWrites(engine)
        _WRITERS[engine.sync_engine] = writer
    return writer


class PooledWrites:
    """One transaction per unit, on the engine's pool (PostgreSQL)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = session_factory(engine)

    @asynccontextmanager
    async def unit(self) -> AsyncIterator[AsyncSession]:
        async with self._sessions() as session, session.begin():
            yield session


@dataclass(eq=False, slots=True)
class _Slot:
    """One queued unit: the writer grants it the session, the unit says when it is done, the
    writer says when its batch is committed."""

    granted: asyncio.Future[AsyncSession]
    finished: asyncio.Future[bool]
    committed: asyncio.Future[None]

    @classmethod
    def new(cls) -> _Slot:
        loop = asyncio.get_running_loop()
        return cls(loop.create_future(), loop.create_future(), loop.create_future())


class GroupCommit:
    """All writes through one connection and one writer task, committed in batches (SQLite)."""

    def __init__(self, engine: AsyncEngine, *, max_batch: int = MAX_BATCH) -> None:
        self._engine = engine
        self._max_batch = max_batch
        self._queue: deque[_Slot] = deque()
        self._task: asyncio.Task[None] | None = None
        self.batches = 0  # committed batches, for tests and benchmarks
        self.units = 0  # committed units

    @asynccontextmanager
    async def unit(self) -> AsyncIterator[AsyncSession]:
        slot = _Slot.new()
        self._queue.append(slot)
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done() or self._task.get_loop() is not loop:
            self._task = loop.create_task(self._drain())
        try:
            session = await slot.granted
        except asyncio.CancelledError:
            if not slot.granted.cancelled() and slot.granted.done():
                slot.finished.set_result(False)  # granted as we were cancelled: hand it back
            raise
        ok = False
        try:
            async with session.begin():  # the unit's SAVEPOINT: its failure undoes it alone
                yield session
            ok = True
        finally:
            slot.finished.set_result(ok)
        await slot.committed

    async def _drain(self) -> None:
        """Commit batches while units are queued, then stop (the next unit starts a new task)."""
        try:
            while self._queue:
                await self._batch()
        finally:
            if self._task is asyncio.current_task():
                self._task = None

    async def _batch(self) -> None:
        done: list[_Slot] = []
        current: _Slot | None = None
        try:
            async with self._engine.connect() as connection:
                await connection.begin()  # BEGIN IMMEDIATE (enrollment.db)
                while self._queue and len(done) < self._max_batch:
                    current = self._queue.popleft()
                    if await self._run(connection, current):
                        done.append(current)
                    current = None
                await connection.commit()
        except Exception as exc:  # the batch is lost: tell every unit in it, keep writing
            failure = storage_failure(exc) or StorageUnavailable(UNAVAILABLE)
            log.warning("write batch failed", extra={"error": type(exc).__name__})
            lost = [*done, *([current] if current else [])]
            if not lost:  # no connection or no BEGIN: every queued unit would meet the same
                lost = list(self._queue)
                self._queue.clear()
            for slot in lost:
                _fail(slot, failure)
            return
        self.batches += 1
        self.units += len(done)
        for slot in done:
            if not slot.committed.done():
                slot.committed.set_result(None)

    @staticmethod
    async def _run(connection: AsyncConnection, slot: _Slot) -> bool:
        """Grant ``slot`` the connection and wait until its unit is done; False if it failed
        (its savepoint is rolled back) or was abandoned."""
        if slot.granted.done():  # cancelled while queued
            return False
        session = AsyncSession(
            bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
        )
        slot.granted.set_result(session)
        try:
            return await asyncio.shield(slot.finished)
        finally:
            await session.close()


def _fail(slot: _Slot, failure: StorageUnavailable) -> None:
    if not slot.granted.done():
        slot.granted.set_exception(failure)
    elif not slot.committed.done():
        slot.committed.set_exception(failure)
