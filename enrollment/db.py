"""The async SQL engine: SQLite (WAL, serialized writers) by default, PostgreSQL at scale.

SQLAlchemy is imported when an engine is made, not with this module: the embedded database's
pragmas, its stored values and the storage errors serve the plain ``sqlite3`` path too (a
one-shot command that writes through :meth:`enrollment.writer.GroupCommit.plain` alone).
"""

from __future__ import annotations

import json
import sqlite3
import sys
from datetime import UTC, datetime
from enum import Enum
from typing import TYPE_CHECKING, Any

from enrollment.errors import StorageDamaged, StorageFull, StorageUnavailable

if TYPE_CHECKING:
    from sqlalchemy.engine import Dialect, ExceptionContext
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 30_000
SQLITE_POOL_SIZE = 24
# PostgreSQL: a read and a unit per request in flight, plus /healthz and the scheduler.
POSTGRES_POOL_SIZE = 20
UNAVAILABLE = (
    "The database is unavailable right now, so nothing was changed. Try again in a minute; "
    "if it lasts, tell the operator (GET /healthz shows the database's state)."
)
FULL = (
    "The database cannot write: the disk of the data directory is full, so nothing was "
    "changed. Try again later; the operator must free space there."
)
DAMAGED = (
    "The database cannot be read: its file is damaged or is not a certdesk database, so "
    "nothing was changed. Tell the operator: restore the data directory from a backup "
    "(certdesk restore)."
)
# SQLite's words for a file that is no database, or one whose pages are damaged.
_DAMAGED_SQLITE = ("file is not a database", "malformed")
# SQLSTATE classes of a lost or refused connection (08) and of a server shutting down (57).
_UNAVAILABLE_SQLSTATES = ("08", "57")


def broken_protocol(error: BaseException) -> bool:
    """Whether ``error`` (or the driver error SQLAlchemy wrapped in it) is asyncpg's
    ``InternalClientError``: a connection the server left mid-statement, in a protocol state no
    later statement may enter. Only a loaded asyncpg can have raised it (SQLite never loads it)."""
    asyncpg = sys.modules.get("asyncpg")
    if asyncpg is None:
        return False
    return any(
        isinstance(candidate, asyncpg.InternalClientError) for candidate in (error, error.__cause__)
    )


def storage_failure(error: BaseException, *, disconnect: bool = False) -> StorageUnavailable | None:
    """The certdesk error for a database that cannot be reached or written, or None when
    ``error`` is another failure (a bug, a constraint) that must keep its own course."""
    if isinstance(error, StorageUnavailable):
        return error
    if isinstance(error, sqlite3.DatabaseError) and any(
        words in str(error).lower() for words in _DAMAGED_SQLITE
    ):
        return StorageDamaged(DAMAGED)
    if isinstance(error, sqlite3.OperationalError):
        text = str(error).lower()
        if "disk is full" in text or "disk i/o error" in text:
            return StorageFull(FULL)
        if "unable to open database" in text or "readonly database" in text:
            return StorageUnavailable(UNAVAILABLE)
        return None
    sqlstate = str(getattr(error, "sqlstate", None) or "")
    if (
        disconnect
        or broken_protocol(error)
        or isinstance(error, OSError)
        or sqlstate.startswith(_UNAVAILABLE_SQLSTATES)
    ):
        return StorageUnavailable(UNAVAILABLE)
    return None


def _report_storage_failures(engine: AsyncEngine) -> None:
    """Unreachable or full storage raises :class:`StorageUnavailable` (a 503 with a clear
    message at every HTTP boundary) instead of a driver exception (a 500)."""
    from sqlalchemy import event

    @event.listens_for(engine.sync_engine, "handle_error")
    def _on_error(context: ExceptionContext) -> BaseException | None:
        if context.is_pre_ping:  # the pool replaces a stale connection itself
            return None
        if broken_protocol(context.original_exception):
            context.is_disconnect = True  # the pool drops this connection, never reuses it
        return storage_failure(context.original_exception, disconnect=context.is_disconnect)

    @event.listens_for(engine.sync_engine, "do_connect")
    def _on_connect(dialect: Dialect, _record: Any, cargs: Any, cparams: Any) -> Any:
        try:
            return dialect.connect(*cargs, **cparams)
        except Exception as exc:  # the driver's own refusal: OSError, asyncpg, sqlite3
            failure = storage_failure(exc)
            if failure is None:
                raise
            raise failure from exc


_READ_ONLY = "certdesk_read_only"
# ``await session.connection(execution_options=READ_ONLY)`` first: a transaction that only
# reads, so on SQLite it begins without the write lock (it must not write).
READ_ONLY: dict[str, Any] = {_READ_ONLY: True}


def create_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    """An engine for ``url``; on SQLite every transaction is ``BEGIN IMMEDIATE``.

    Taking the write lock at BEGIN makes concurrent read-then-write transactions queue on the
    busy timeout instead of failing with "database is locked" when they upgrade their lock.
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.ext.asyncio import create_async_engine

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_async_engine(
            url,
            echo=echo,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            # Each connection is a thread (aiosqlite): enough for the readers of the requests
            # in flight and the one writer, so that none is opened and closed per request.
            pool_size=SQLITE_POOL_SIZE,
            max_overflow=SQLITE_POOL_SIZE,
        )
        _configure_sqlite(engine)
        _report_storage_failures(engine)
        return engine
    engine = create_async_engine(
        url,
        echo=echo,
        pool_pre_ping=True,
        pool_size=POSTGRES_POOL_SIZE,
        max_overflow=POSTGRES_POOL_SIZE,
    )
    _report_storage_failures(engine)
    return engine


def sqlite_pragmas(dbapi_connection: Any, *, own_checkpoints: bool = False) -> None:
    """WAL, ``synchronous=NORMAL``, the busy timeout, foreign keys, and no implicit BEGIN: every
    connection to the embedded database, through SQLAlchemy or a writer's own ``sqlite3``.

    ``own_checkpoints``: no automatic WAL checkpoint inside a ``COMMIT`` (SQLite's default, every
    1,000 pages, makes that commit, and every unit waiting on it, pay for copying the WAL into
    the database); the writer checkpoints on a thread of its own instead
    (:class:`enrollment.writer.Checkpoints`). Only for a database file that has that writer.
    """
    dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
    cursor = dbapi_connection.cursor()
    try:  # the first statement on the file: a damaged one or no database at all fails here
        cursor.execute("PRAGMA journal_mode=WAL")
    except sqlite3.DatabaseError as exc:
        failure = storage_failure(exc)
        if failure is None:
            raise
        raise failure from exc
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    if own_checkpoints:
        cursor.execute("PRAGMA wal_autocheckpoint=0")
    cursor.close()


def sqlite_path(engine: AsyncEngine) -> str | None:
    """The file of ``engine``'s embedded database, or None (PostgreSQL, in-memory, a URI)."""
    url = engine.url
    if url.get_backend_name() != "sqlite" or url.query:
        return None
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return database


def sqlite_value(value: Any) -> Any:
    """``value`` as SQLAlchemy stores it in SQLite: UTC datetimes as naive
    ``YYYY-MM-DD HH:MM:SS.ffffff`` text (enrollment.types.UTCDateTime), lists and dicts as JSON,
    enums as their value."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: certdesk stores only aware UTC times")
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, list | dict):
        return json.dumps(value)
    return value


def _configure_sqlite(engine: AsyncEngine) -> None:
    from sqlalchemy import event

    own_checkpoints = sqlite_path(engine) is not None  # the writer checkpoints a file

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        sqlite_pragmas(dbapi_connection, own_checkpoints=own_checkpoints)

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        if connection.get_execution_options().get(_READ_ONLY):
            connection.exec_driver_sql("BEGIN")  # deferred: a WAL reader takes no write lock
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)
