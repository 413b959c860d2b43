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

The hot path (a link's redemption) has a leaner shape on SQLite, beside the session units:
:meth:`GroupCommit.run` takes a unit as a plain function of the writer's own ``sqlite3``
connection. The units queued meanwhile run in one hop to the writer's thread, each in its
``SAVEPOINT``, under one ``BEGIN IMMEDIATE`` … ``COMMIT``: the same guarantees, without a thread
hand-off and an SQLAlchemy execution per statement. :meth:`GroupCommit.read` is its reading
twin, on a WAL reader connection in a thread of its own. Both exist only for an embedded
database in a file (``lean``); the session units stay for everything else.

A database file is checkpointed by its writer, not inside a ``COMMIT``: :class:`Checkpoints`
copies the WAL into the database with a passive checkpoint on a thread of its own, at most once
a second after commits (``wal_autocheckpoint=0`` on every connection, :mod:`enrollment.db`).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import weakref
from collections import deque
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from enrollment.db import UNAVAILABLE, session_factory, sqlite_path, sqlite_pragmas, storage_failure
from enrollment.errors import StorageUnavailable

if TYPE_CHECKING:  # SQLAlchemy loads with the first engine, not with a plain writer
    from sqlalchemy.engine import Engine
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

log = logging.getLogger(__name__)

T = TypeVar("T")
SyncUnit = Callable[[sqlite3.Connection], T]

MAX_BATCH = 64  # units per commit; with 16 requests in flight a batch rarely exceeds 16
CHECKPOINT_EVERY = 1.0  # seconds: at most one WAL checkpoint a second, after commits


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


def close_writer(engine: AsyncEngine) -> None:
    """End ``engine``'s writer's threads, if it has any (before disposing of the engine)."""
    writer = _WRITERS.pop(engine.sync_engine, None)
    if isinstance(writer, GroupCommit):
        writer.close()


class PooledWrites:
    """One transaction per unit, on the engine's pool (PostgreSQL)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._sessions = session_factory(engine)

    @asynccontextmanager
    async def unit(self) -> AsyncIterator[AsyncSession]:
        async with self._sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def core_unit(self) -> AsyncIterator[AsyncConnection]:
        """A unit as a bare Core connection in its transaction (no ORM session around it):
        the hot path's shape on PostgreSQL."""
        async with self._engine.begin() as connection:
            yield connection


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


class SqliteThread:
    """One ``sqlite3`` connection to the embedded database, used only by a thread of its own:
    each :meth:`call` is one hop there and back."""

    def __init__(self, path: str, *, name: str) -> None:
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=name)
        self._connection = _Connection(path)
        self._finalizer = weakref.finalize(self, _let_go, self._executor)

    async def call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._connection.run, fn)

    def close(self) -> None:
        """Close the connection (in its thread) and let the thread end."""
        self._finalizer.detach()  # closed: nothing left for the garbage collector to do
        _close_thread(self._executor, self._connection)


class _Connection:
    """The thread's connection, opened on its first use there."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._connection: sqlite3.Connection | None = None

    def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._connection is None:
            connection = sqlite3.connect(self._path, check_same_thread=False)
            sqlite_pragmas(connection, own_checkpoints=True)
            self._connection = connection
        return fn(self._connection)

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def _let_go(executor: ThreadPoolExecutor) -> None:
    """The finalizer of a thread nobody closed: let its thread end; its connection closes when
    it is collected.

    A finalizer may run inside the garbage collector at any allocation, even one inside another
    executor's ``submit``, which holds ``concurrent.futures``' global lock: submitting here (as
    :func:`_close_thread` does) deadlocked that thread for good. ``shutdown(wait=False)`` takes
    only this executor's own lock.
    """
    executor.shutdown(wait=False)


def _close_thread(executor: ThreadPoolExecutor, connection: _Connection) -> None:
    try:
        executor.submit(connection.close)
    except RuntimeError:  # already shut down
        return
    executor.shutdown(wait=False)


def _run_units(units: list[SyncUnit[Any]], connection: sqlite3.Connection) -> list[Any]:
    """In the writer's thread: one transaction, each unit in its savepoint. A unit's outcome
    is its value or its exception (mapped to StorageUnavailable for the disk); raising here
    (BEGIN or COMMIT failed) loses the whole batch."""
    outcomes: list[Any] = []
    connection.execute("BEGIN IMMEDIATE")
    try:
        for unit in units:
            connection.execute("SAVEPOINT unit")
            try:
                value = unit(connection)
            except Exception as exc:
                connection.execute("ROLLBACK TO unit")
                connection.execute("RELEASE unit")
                outcomes.append(_Failed(storage_failure(exc) or exc))
            else:
                connection.execute("RELEASE unit")
                outcomes.append(value)
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise
    return outcomes


@dataclass(frozen=True, slots=True)
class _Failed:
    error: Exception


def _checkpoint(connection: sqlite3.Connection) -> tuple[int, int, int]:
    """A passive checkpoint: copies what it can without waiting for readers or the writer."""
    busy, frames, copied = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    return busy, frames, copied


class Checkpoints:
    """The WAL of one database file copied into the database on a thread of its own, after
    commits, at most once every ``every`` seconds: no commit (and no unit waiting for it) pays
    for a checkpoint, and the WAL is reset once wholly copied, so it does not grow unbounded."""

    def __init__(self, path: str, *, every: float) -> None:
        self._thread = SqliteThread(path, name="certdesk-checkpoint")
        self._every = every
        self._last: float | None = None  # loop time of the last checkpoint's start
        self._running: asyncio.Task[None] | None = None
        self._later: asyncio.TimerHandle | None = None
        self._again = False  # a commit came while a checkpoint ran
        self._loop: asyncio.AbstractEventLoop | None = None
        self.runs = 0  # checkpoints done, for tests and benchmarks

    def committed(self) -> None:
        """A batch was committed: checkpoint now, or once ``every`` has passed since the last."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # the first commit, or the last one's loop has ended
            self._loop, self._running, self._later, self._last = loop, None, None, None
        if self._running is not None and not self._running.done():
            self._again = True
            return
        if self._later is not None:
            return
        wait = 0.0 if self._last is None else self._last + self._every - loop.time()
        if wait > 0:
            self._later = loop.call_later(wait, self._start)
        else:
            self._start()

    def _start(self) -> None:
        self._later = None
        self._running = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        self._last = asyncio.get_running_loop().time()
        try:
            await self._thread.call(_checkpoint)
        except sqlite3.Error as exc:  # the next commit tries again
            log.warning("WAL checkpoint failed", extra={"error": str(exc)})
        else:
            self.runs += 1
        if self._again:
            self._again = False
            self.committed()

    def close(self) -> None:
        if self._later is not None:
            self._later.cancel()
            self._later = None
        self._thread.close()


class GroupCommit:
    """All writes through one connection and one writer task, committed in batches (SQLite)."""

    def __init__(
        self,
        engine: AsyncEngine | None,
        *,
        max_batch: int = MAX_BATCH,
        checkpoint_every: float = CHECKPOINT_EVERY,
        path: str | None = None,
    ) -> None:
        self._engine = engine
        self._max_batch = max_batch
        self._queue: deque[_Slot] = deque()
        self._plain: deque[tuple[SyncUnit[Any], asyncio.Future[Any]]] = deque()
        self._task: asyncio.Task[None] | None = None
        path = sqlite_path(engine) if engine is not None else path
        self._writer = SqliteThread(path, name="certdesk-writer") if path else None
        self._reader = SqliteThread(path, name="certdesk-reader") if path else None
        self.checkpoints = Checkpoints(path, every=checkpoint_every) if path else None
        self.batches = 0  # committed batches, for tests and benchmarks
        self.units = 0  # committed units

    @classmethod
    def plain(cls, path: str) -> GroupCommit:
        """A writer of plain units only (:meth:`run`, :meth:`read`) on the database file
        ``path``, with no engine: what a one-shot command that needs no session writes through,
        without loading SQLAlchemy. Its :meth:`unit` refuses."""
        return cls(None, path=path)

    @property
    def lean(self) -> bool:
        """Whether :meth:`run` and :meth:`read` are available (an embedded database file)."""
        return self._writer is not None

    async def run(self, unit: SyncUnit[T]) -> T:
        """Run ``unit(connection)`` as a unit of work on the writer's ``sqlite3`` connection and
        return its value once its batch is committed; its exception undoes it alone. It runs in
        the writer's thread: plain statements only, nothing that awaits or waits for a unit."""
        if self._writer is None:
            raise RuntimeError("plain units need an embedded database file")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._plain.append((unit, future))
        self._start()
        return await future

    async def read(self, query: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``query(connection)`` on the WAL reader connection (no write lock; it must not
        write), in the reader's thread."""
        if self._reader is None:
            raise RuntimeError("plain reads need an embedded database file")
        try:
            return await self._reader.call(query)
        except sqlite3.Error as exc:
            failure = storage_failure(exc)
            if failure is None:
                raise
            raise failure from exc

    def close(self) -> None:
        """End the writer's, the reader's and the checkpoints' threads (connections closed)."""
        for thread in (self._writer, self._reader):
            if thread is not None:
                thread.close()
        if self.checkpoints is not None:
            self.checkpoints.close()

    def _start(self) -> None:
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done() or self._task.get_loop() is not loop:
            self._task = loop.create_task(self._drain())

    @asynccontextmanager
    async def unit(self) -> AsyncIterator[AsyncSession]:
        if self._engine is None:
            raise RuntimeError("session units need an engine (this writer has plain units only)")
        slot = _Slot.new()
        self._queue.append(slot)
        self._start()
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
            while self._queue or self._plain:
                if self._plain:
                    await self._plain_batch()
                if self._queue:
                    await self._batch()
        finally:
            if self._task is asyncio.current_task():
                self._task = None

    async def _batch(self) -> None:
        assert self._engine is not None  # unit() queues nothing without one
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
        if self.checkpoints is not None:
            self.checkpoints.committed()
        for slot in done:
            if not slot.committed.done():
                slot.committed.set_result(None)

    async def _plain_batch(self) -> None:
        assert self._writer is not None
        taken = [self._plain.popleft() for _ in range(min(len(self._plain), self._max_batch))]
        batch = [(unit, future) for unit, future in taken if not future.done()]
        if not batch:
            return
        try:
            outcomes = await self._writer.call(partial(_run_units, [unit for unit, _ in batch]))
        except Exception as exc:  # the batch is lost: tell every unit in it, keep writing
            failure = storage_failure(exc) or StorageUnavailable(UNAVAILABLE)
            log.warning("write batch failed", extra={"error": type(exc).__name__})
            for _, future in batch:
                if not future.done():
                    future.set_exception(failure)
            return
        self.batches += 1
        if self.checkpoints is not None:
            self.checkpoints.committed()
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, _Failed):
                if not future.done():
                    future.set_exception(outcome.error)
                continue
            self.units += 1
            if not future.done():
                future.set_result(outcome)

    @staticmethod
    async def _run(connection: AsyncConnection, slot: _Slot) -> bool:
        """Grant ``slot`` the connection and wait until its unit is done; False if it failed
        (its savepoint is rolled back) or was abandoned."""
        from sqlalchemy.ext.asyncio import AsyncSession

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
