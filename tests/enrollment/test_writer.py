"""Units of work (enrollment/writer.py): group commit on SQLite, one transaction per unit on
PostgreSQL. Each unit keeps its own checks; one unit's failure undoes it alone."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlmodel import col, select

from bot.database import upgrade_async
from bot.runtime import Runtime
from enrollment.db import create_engine, session_factory
from enrollment.errors import StorageUnavailable
from enrollment.models import AuditEvent, Enrollment
from enrollment.writer import GroupCommit, PooledWrites, writes_for


class UnitRefused(Exception):
    """A unit's own check failing."""


async def targets(engine: AsyncEngine) -> list[str]:
    """The audit targets stored (what each test's units wrote), read on a fresh session."""
    async with session_factory(engine)() as session:
        result = await session.execute(
            select(AuditEvent.target).where(col(AuditEvent.action) == "test.unit")
        )
        return sorted(t for t in result.scalars().all() if t is not None)


def row(target: str) -> AuditEvent:
    return AuditEvent(actor="test", action="test.unit", target=target)


@pytest.fixture
def writer(runtime: Runtime) -> GroupCommit | PooledWrites:
    return writes_for(runtime.engine)


@pytest.fixture
async def sqlite_engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """A migrated embedded SQLite of its own (group commit is SQLite's writer only)."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'writer.db'}"
    await upgrade_async(url)
    engine = create_engine(url)
    yield engine
    await engine.dispose()


@pytest.fixture
def group_commit(sqlite_engine: AsyncEngine) -> Iterator[GroupCommit]:
    writer = GroupCommit(sqlite_engine)
    yield writer
    writer.close()


@pytest.fixture
async def unreachable_engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """An engine whose database file cannot be opened (its directory does not exist).

    aiosqlite answers a failed connect by queueing its thread's stop with a future that nobody
    awaits; if the test's loop closed first, that thread would raise "Event loop is closed" into
    whichever test runs next. Teardown therefore waits, on the running loop, for every aiosqlite
    thread the test started to end."""
    before = set(threading.enumerate())
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'missing' / 'x.db'}")
    yield engine
    await engine.dispose()
    started = [t for t in set(threading.enumerate()) - before if "_connection_worker" in t.name]
    for thread in started:
        await asyncio.to_thread(thread.join, 30)  # a guard against a hang, not a timing assertion
    assert not [t.name for t in started if t.is_alive()]


async def test_writes_for_picks_group_commit_on_sqlite_only(runtime: Runtime) -> None:
    expected = GroupCommit if runtime.engine.dialect.name == "sqlite" else PooledWrites
    assert isinstance(writes_for(runtime.engine), expected)


async def test_unit_is_committed_when_its_block_is_left(
    runtime: Runtime, writer: GroupCommit | PooledWrites
) -> None:
    """Leaving the block means durable: another connection sees the row at once."""
    async with writer.unit() as session:
        session.add(row("committed"))
    assert await targets(runtime.engine) == ["committed"]


async def test_failing_unit_does_not_undo_the_others_in_its_batch(
    sqlite_engine: AsyncEngine, group_commit: GroupCommit
) -> None:
    """A good, a refusing and another good unit queued behind one holder: one batch, the
    refusal undone alone (its savepoint), the caller given its own exception."""
    release = asyncio.Event()
    holding = asyncio.Event()

    async def holder() -> None:
        async with group_commit.unit() as session:
            session.add(row("holder"))
            holding.set()
            await release.wait()

    async def good(name: str) -> None:
        async with group_commit.unit() as session:
            session.add(row(name))

    async def refusing() -> None:
        async with group_commit.unit() as session:
            session.add(row("refused"))
            await session.flush()  # written, then its own check fails
            raise UnitRefused("no")

    first = asyncio.create_task(holder())
    await holding.wait()
    queued = [
        asyncio.create_task(good("before")),
        asyncio.create_task(refusing()),
        asyncio.create_task(good("after")),
    ]
    await asyncio.sleep(0)  # all three queued behind the holder
    batches = group_commit.batches
    release.set()
    results = await asyncio.gather(first, *queued, return_exceptions=True)
    assert [type(r) for r in results] == [type(None), type(None), UnitRefused, type(None)]
    assert group_commit.batches == batches + 1  # the four units shared one commit
    assert await targets(sqlite_engine) == ["after", "before", "holder"]


async def test_unit_failing_its_constraint_does_not_undo_the_others(
    runtime: Runtime, writer: GroupCommit | PooledWrites
) -> None:
    """A duplicate reference number (a UNIQUE constraint) fails that unit only."""
    await create_enrollment_row(writer, "REF-ONE")

    async def duplicate() -> None:
        await create_enrollment_row(writer, "REF-ONE")

    async def other(name: str) -> None:
        async with writer.unit() as session:
            session.add(row(name))

    results = await asyncio.gather(other("a"), duplicate(), other("b"), return_exceptions=True)
    assert isinstance(results[1], IntegrityError)
    assert await targets(runtime.engine) == ["a", "b"]


async def create_enrollment_row(writer: GroupCommit | PooledWrites, reference: str) -> None:
    async with writer.unit() as session:
        session.add(
            Enrollment(reference_number=reference, authorization_code_hash="0" * 64, subject_cn="X")
        )


async def test_writer_survives_a_unit_that_raises(
    runtime: Runtime, writer: GroupCommit | PooledWrites
) -> None:
    """A bug in one unit (any exception) leaves the writer serving the next units."""

    async def buggy() -> None:
        async with writer.unit() as session:
            session.add(row("lost"))
            _ = 1 / 0

    for _ in range(3):
        with pytest.raises(ZeroDivisionError):
            await buggy()
    async with writer.unit() as session:
        session.add(row("next"))
    assert await targets(runtime.engine) == ["next"]


async def test_unit_cancelled_while_queued_does_not_stall_the_writer(
    sqlite_engine: AsyncEngine, group_commit: GroupCommit
) -> None:
    release = asyncio.Event()
    holding = asyncio.Event()

    async def holder() -> None:
        async with group_commit.unit() as session:
            session.add(row("holder"))
            holding.set()
            await release.wait()

    async def queued(name: str) -> None:
        async with group_commit.unit() as session:
            session.add(row(name))

    first = asyncio.create_task(holder())
    await holding.wait()
    cancelled = asyncio.create_task(queued("cancelled"))
    later = asyncio.create_task(queued("later"))
    await asyncio.sleep(0)
    cancelled.cancel()
    release.set()
    await asyncio.gather(first, later)
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    assert await targets(sqlite_engine) == ["holder", "later"]


def plain_row(target: str) -> Callable[[sqlite3.Connection], str]:
    """A plain unit writing one audit row; returns its target."""

    def unit(connection: sqlite3.Connection) -> str:
        connection.execute(
            "INSERT INTO audit_event (at, actor, action, target, outcome, detail)"
            " VALUES ('2026-01-01 00:00:00.000000', 'test', 'test.unit', ?, 'ok', '{}')",
            (target,),
        )
        return target

    return unit


def plain_refusing(connection: sqlite3.Connection) -> str:
    plain_row("refused")(connection)  # written, then its own check fails
    raise UnitRefused("no")


async def test_plain_units_in_one_batch_keep_their_own_outcomes(
    sqlite_engine: AsyncEngine, group_commit: GroupCommit
) -> None:
    """Plain units queued together share one commit (one hop to the writer's thread); the one
    that raises is undone alone, the caller given its own exception, the others committed."""
    assert group_commit.lean
    results = await asyncio.gather(
        group_commit.run(plain_row("before")),
        group_commit.run(plain_refusing),
        group_commit.run(plain_row("after")),
        return_exceptions=True,
    )
    assert results[0] == "before"
    assert isinstance(results[1], UnitRefused)
    assert results[2] == "after"
    assert group_commit.batches == 1
    assert group_commit.units == 2
    assert await targets(sqlite_engine) == ["after", "before"]


async def test_plain_units_and_session_units_share_the_writer(
    sqlite_engine: AsyncEngine, group_commit: GroupCommit
) -> None:
    """Both shapes queued at once are committed, one batch after the other, with no
    "database is locked" between the writer's two connections."""

    async def session_unit(name: str) -> None:
        async with group_commit.unit() as session:
            session.add(row(name))

    await asyncio.gather(
        *(group_commit.run(plain_row(f"plain-{i}")) for i in range(10)),
        *(session_unit(f"session-{i}") for i in range(10)),
    )
    expected = sorted([f"plain-{i}" for i in range(10)] + [f"session-{i}" for i in range(10)])
    assert await targets(sqlite_engine) == expected


async def test_writer_survives_a_plain_unit_that_raises(group_commit: GroupCommit) -> None:
    """A bug in a plain unit (a broken statement, any exception) leaves the writer serving."""

    def broken(connection: sqlite3.Connection) -> None:
        connection.execute("INSERT INTO no_such_table VALUES (1)")

    for _ in range(3):
        with pytest.raises(sqlite3.OperationalError, match="no_such_table"):
            await group_commit.run(broken)
    assert await group_commit.run(plain_row("next")) == "next"


async def test_plain_unit_is_committed_when_it_returns(
    sqlite_engine: AsyncEngine, group_commit: GroupCommit
) -> None:
    """What a plain unit wrote is visible to another connection as soon as run() returns,
    and to the writer's reader."""
    await group_commit.run(plain_row("durable"))
    assert await targets(sqlite_engine) == ["durable"]

    def read(connection: sqlite3.Connection) -> list[str]:
        found = connection.execute("SELECT target FROM audit_event WHERE action = 'test.unit'")
        return [target for (target,) in found]

    assert await group_commit.read(read) == ["durable"]


async def test_plain_units_on_an_unreachable_database_are_refused(
    unreachable_engine: AsyncEngine,
) -> None:
    """No database file can be opened: every plain unit and read gets StorageUnavailable (503),
    and the writer keeps taking the next ones."""
    writer = GroupCommit(unreachable_engine)
    try:
        async with asyncio.timeout(30):  # a guard against a hang, not a timing assertion
            results = await asyncio.gather(
                writer.run(plain_row("a")), writer.run(plain_row("b")), return_exceptions=True
            )
            assert [type(r) for r in results] == [StorageUnavailable, StorageUnavailable]
            with pytest.raises(StorageUnavailable):
                await writer.read(lambda connection: connection.execute("SELECT 1").fetchone())
    finally:
        writer.close()


async def test_no_plain_units_without_a_database_file() -> None:
    """An in-memory SQLite has no second connection to share the data: session units only."""
    engine = create_async_engine("sqlite+aiosqlite://")
    try:
        writer = GroupCommit(engine)
        assert not writer.lean
        with pytest.raises(RuntimeError, match="embedded database file"):
            await writer.run(plain_row("never"))
    finally:
        await engine.dispose()


async def test_unreachable_database_refuses_every_queued_unit(
    unreachable_engine: AsyncEngine,
) -> None:
    """No connection for the batch: each queued unit gets StorageUnavailable (a 503 at the
    HTTP boundary), and the writer takes the next units instead of spinning on the first."""
    writer = GroupCommit(unreachable_engine)

    async def one() -> None:
        async with writer.unit() as session:
            session.add(row("never"))

    try:
        async with asyncio.timeout(30):  # a guard against a hang, not a timing assertion
            results = await asyncio.gather(one(), one(), return_exceptions=True)
            assert [type(r) for r in results] == [StorageUnavailable, StorageUnavailable]
            with pytest.raises(StorageUnavailable):
                await one()
    finally:
        writer.close()


def plain_blob(size: int) -> Callable[[sqlite3.Connection], None]:
    """A plain unit writing one audit row with ``size`` bytes of detail."""

    def unit(connection: sqlite3.Connection) -> None:
        connection.execute(
            "INSERT INTO audit_event (at, actor, action, target, outcome, detail)"
            " VALUES ('2026-01-01 00:00:00.000000', 'test', 'test.blob', 't', 'ok', ?)",
            ("x" * size,),
        )

    return unit


async def checkpointed(writer: GroupCommit, runs: int) -> None:
    """Until ``writer`` has done ``runs`` checkpoints (the guard only stops a hang)."""
    assert writer.checkpoints is not None
    async with asyncio.timeout(60):
        while writer.checkpoints.runs < runs:  # noqa: ASYNC110 - a counter of another thread's work
            await asyncio.sleep(0.01)


async def test_commits_reach_the_database_file_through_the_writers_checkpoints(
    sqlite_engine: AsyncEngine, group_commit: GroupCommit
) -> None:
    """Issue 11: no COMMIT checkpoints (wal_autocheckpoint=0); the writer's own thread copies
    the WAL into the database file after commits. Before, 30 small rows stayed in the WAL
    until it reached 1,000 pages, and the commit that reached them paid for the copy."""
    database = str(sqlite_engine.url.database)
    await group_commit.run(plain_blob(10))  # the schema's pages reach the file first
    await checkpointed(group_commit, 1)
    size = await asyncio.to_thread(os.path.getsize, database)
    await asyncio.gather(*(group_commit.run(plain_blob(4000)) for _ in range(30)))
    await checkpointed(group_commit, 2)
    assert await asyncio.to_thread(os.path.getsize, database) - size >= 30 * 4000
    writer_pragma = await group_commit.run(
        lambda connection: connection.execute("PRAGMA wal_autocheckpoint").fetchone()[0]
    )
    assert writer_pragma == 0
    async with sqlite_engine.connect() as connection:
        pooled = (await connection.exec_driver_sql("PRAGMA wal_autocheckpoint")).scalar()
    assert pooled == 0


async def test_wal_does_not_grow_unbounded(sqlite_engine: AsyncEngine) -> None:
    """20 MB committed in 20 rounds leave a WAL of at most a few rounds: each checkpoint copies
    it whole, and the next commit starts it over."""
    writer = GroupCommit(sqlite_engine, checkpoint_every=0.0)
    try:
        assert writer.checkpoints is not None
        for _ in range(20):
            runs = writer.checkpoints.runs
            await asyncio.gather(*(writer.run(plain_blob(64_000)) for _ in range(16)))
            await checkpointed(writer, runs + 1)
        wal = f"{sqlite_engine.url.database}-wal"
        assert await asyncio.to_thread(os.path.getsize, wal) < 4_000_000
    finally:
        writer.close()


def test_an_unclosed_sqlite_thread_is_let_go_without_the_executors_global_lock(
    tmp_path: Path,
) -> None:
    """Its finalizer may run inside the garbage collector during another executor's ``submit``,
    which holds ``concurrent.futures``' global lock (a CI run hung there for good): it must not
    take that lock. Here the lock is held, as by that ``submit``, while the last reference
    goes; the join's bound only stops a hang."""
    from concurrent.futures import thread as futures_thread

    from enrollment.writer import SqliteThread

    abandoned = [SqliteThread(str(tmp_path / "certdesk.db"), name="abandoned")]
    finished = threading.Event()

    def drop() -> None:
        abandoned.clear()  # the last reference: its finalizer runs here, in this thread
        finished.set()

    with futures_thread._global_shutdown_lock:  # type: ignore[attr-defined]
        dropper = threading.Thread(target=drop, daemon=True)
        dropper.start()
        dropper.join(30)
        let_go = finished.is_set()
    dropper.join()
    assert let_go, "the finalizer waited for the executors' global lock"
