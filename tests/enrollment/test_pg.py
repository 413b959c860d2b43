"""The PostgreSQL hot path's pool (enrollment/pg.py), against the real PostgreSQL the suite
starts: which URLs it serves, a dead connection retried once, an unreachable server a 503."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import AsyncIterator

import asyncpg
import pytest
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_dbapi
from sqlalchemy.engine import make_url

from enrollment.db import UNAVAILABLE, broken_protocol, create_engine, storage_failure
from enrollment.errors import StorageUnavailable
from enrollment.pg import (
    LeanPostgres,
    _dead_connection,
    close_lean_postgres,
    lean_postgres,
    lean_url,
)
from tests.support.postgres import PostgresServer

pytestmark = pytest.mark.postgres


def test_lean_path_only_for_asyncpg_urls_without_options() -> None:
    """Options the SQLAlchemy dialect translates keep its Core path, which honours them."""
    plain = lean_url(make_url("postgresql+asyncpg://certdesk:pw@db.internal:5433/certdesk"))
    assert plain == {
        "host": "db.internal",
        "port": 5433,
        "user": "certdesk",
        "password": "pw",
        "database": "certdesk",
    }
    assert lean_url(make_url("postgresql+asyncpg://u@h/d?ssl=require")) is None
    assert lean_url(make_url("postgresql+psycopg://u@h/d")) is None
    assert lean_url(make_url("sqlite+aiosqlite:///var/certdesk.db")) is None


async def test_one_pool_per_engine_and_none_with_options(postgres_server: PostgresServer) -> None:
    url = postgres_server.create_database()
    engine, with_options = (
        create_engine(url),
        create_engine(f"{url}?prepared_statement_cache_size=0"),
    )
    try:
        assert lean_postgres(engine) is lean_postgres(engine) is not None
        assert lean_postgres(with_options) is None
    finally:
        await close_lean_postgres(engine)
        await engine.dispose()
        await with_options.dispose()
        postgres_server.drop_database(url)


@pytest.fixture
async def pool(postgres_server: PostgresServer) -> AsyncIterator[LeanPostgres]:
    url = postgres_server.create_database()
    connect = lean_url(make_url(url))
    assert connect is not None
    lean = LeanPostgres(connect, max_size=4)
    try:
        yield lean
    finally:
        await lean.close()
        postgres_server.drop_database(url)


def _kill_backends_unseen(pool: LeanPostgres, postgres_server: PostgresServer) -> None:
    """Kill every backend of the pool's database from another process, as a restart would,
    and wait until they are gone, without letting this loop run: the pool has not seen the
    connections close when its next statement goes out on one of them."""
    database = pool._connect["database"]
    psql = [f"{postgres_server.bin_dir}/psql", "-h", "127.0.0.1", "-p", str(postgres_server.port)]
    psql += ["-U", "postgres", "-d", "postgres", "-tAq", "-c"]
    others = f"FROM pg_stat_activity WHERE datname = '{database}' AND pid <> pg_backend_pid()"
    killed = subprocess.run(
        [*psql, f"SELECT count(pg_terminate_backend(pid)) {others}"],
        check=True,
        capture_output=True,
        text=True,
    )
    assert int(killed.stdout) >= 1
    while (
        subprocess.run(
            [*psql, f"SELECT count(*) {others}"], check=True, capture_output=True, text=True
        ).stdout.strip()
        != "0"
    ):
        pass


async def test_dead_connection_is_retried_once_on_a_fresh_one(
    pool: LeanPostgres, postgres_server: PostgresServer
) -> None:
    """The pooled connection killed before the pool noticed: the statement still answers, on
    a fresh connection, and so do the ones after it (the dead idle ones were replaced)."""
    first = await pool.fetchrow("SELECT pg_backend_pid() AS pid")
    assert first is not None
    _kill_backends_unseen(pool, postgres_server)
    after = [await pool.fetchrow("SELECT pg_backend_pid() AS pid") for _ in range(3)]
    assert all(row is not None and row["pid"] != first["pid"] for row in after)


async def test_a_connection_dead_twice_is_storage_unavailable(
    pool: LeanPostgres, postgres_server: PostgresServer
) -> None:
    """No endless retrying: when the fresh connection fails too, the one clear message."""
    await pool.fetchrow("SELECT 1")
    statement = "SELECT pg_terminate_backend(pg_backend_pid())"  # each attempt kills its own
    with pytest.raises(StorageUnavailable) as refused:
        await pool.fetchrow(statement)
    assert str(refused.value) == UNAVAILABLE
    assert await pool.fetchrow("SELECT 1 AS one") is not None  # and the pool still serves


async def test_unreachable_server_is_storage_unavailable() -> None:
    """Nothing listening: the one clear 503 message, no driver error."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    lean = LeanPostgres({"host": "127.0.0.1", "port": port, "user": "u", "database": "d"})
    try:
        with pytest.raises(StorageUnavailable) as refused:
            await lean.fetchrow("SELECT 1")
        assert str(refused.value) == UNAVAILABLE
    finally:
        await lean.close()


async def test_a_statement_error_is_not_retried(pool: LeanPostgres) -> None:
    """A failing statement (a bug, a constraint) keeps its own error: no retry, no 503."""
    with pytest.raises(asyncpg.UndefinedTableError):
        await pool.fetchrow("SELECT * FROM no_such_table")


def test_a_connection_left_mid_operation_counts_as_dead() -> None:
    """What a connection can raise after PostgreSQL went away under it mid-statement (seen in
    tests/faults/test_postgres_outage.py, once in two runs, as a bare 500): it is dropped and
    the statement retried, then the one clear 503, like any other dead connection."""
    broken = asyncpg.exceptions.InternalClientError(
        "cannot switch to state 12; another operation (2) is in progress"
    )
    assert _dead_connection(broken)
    assert not _dead_connection(asyncpg.UndefinedTableError("no_such_table"))


def test_the_same_error_through_sqlalchemy_is_storage_unavailable() -> None:
    """On the SQLAlchemy path the dialect wraps it: still the 503, not a 500."""
    broken = asyncpg.exceptions.InternalClientError("cannot switch to state 12")
    wrapped = AsyncAdapt_asyncpg_dbapi.InternalClientError(str(broken), broken)  # type: ignore[no-untyped-call]
    wrapped.__cause__ = broken  # as the dialect raises it: `raise ... from error`
    assert broken_protocol(wrapped)
    failure = storage_failure(wrapped)
    assert isinstance(failure, StorageUnavailable)
    assert str(failure) == UNAVAILABLE
    assert storage_failure(ValueError("a bug")) is None
