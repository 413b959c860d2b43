"""The PostgreSQL hot path's own pool: plain asyncpg, beside the SQLAlchemy engine.

The issuance's read and unit are one statement each (``services/_lean_pg.py``); through
SQLAlchemy each also paid a pre-ping (``BEGIN`` + ``ROLLBACK``) and, for the unit, a ``BEGIN``
and a ``COMMIT`` around four statements: eleven round trips where two do. Here one pool per
engine (:func:`lean_postgres`), no pre-ping: a statement that meets a dead connection (the
server restarted, the backend was terminated) is run once more on a fresh one, every idle
connection of the pool being replaced meanwhile; a second failure is
:class:`~enrollment.errors.StorageUnavailable` (503, the one clear message). A statement run
twice this way must be idempotent: the unit is (by the certificate's serial). The pool opens
all its connections at once on first use (the server's first health check), each running the
hot statements once with NULL parameters (:meth:`LeanPostgres.warm_with`), so that no request
pays for a new backend's catalogue loads and the statements' preparation.

The pool exists only for a ``postgresql+asyncpg`` URL without query options: options the
SQLAlchemy dialect translates (``ssl``, ``prepared_statement_cache_size`` …) keep that engine's
Core path, which honours them.
"""

from __future__ import annotations

import asyncio
import logging
import re
import weakref
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import URL, Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from enrollment.db import POSTGRES_POOL_SIZE, UNAVAILABLE, storage_failure
from enrollment.errors import StorageUnavailable

if TYPE_CHECKING:
    import asyncpg  # imported on first use: `ra issue` on SQLite never needs it

log = logging.getLogger(__name__)

_POOLS: weakref.WeakKeyDictionary[Engine, LeanPostgres] = weakref.WeakKeyDictionary()


def lean_url(url: URL) -> dict[str, Any] | None:
    """asyncpg's connection arguments for ``url``, or None when the lean path cannot honour it
    (another database or driver, or query options)."""
    if url.get_backend_name() != "postgresql" or url.get_driver_name() != "asyncpg" or url.query:
        return None
    return {
        "host": url.host,
        "port": url.port,
        "user": url.username,
        "password": url.password,
        "database": url.database,
    }


def lean_postgres(engine: AsyncEngine) -> LeanPostgres | None:
    """The lean pool of ``engine``'s database (one per engine), or None (see :func:`lean_url`)."""
    pool = _POOLS.get(engine.sync_engine)
    if pool is None:
        connect = lean_url(engine.url)
        if connect is None:
            return None
        pool = _POOLS[engine.sync_engine] = LeanPostgres(connect)
    return pool


async def close_lean_postgres(engine: AsyncEngine) -> None:
    """Close ``engine``'s lean pool, if it has one (before disposing of the engine)."""
    pool = _POOLS.pop(engine.sync_engine, None)
    if pool is not None:
        await pool.close()


def _dead_connection(error: BaseException) -> bool:
    """Whether ``error`` says the connection or the server is gone (worth one more try).

    ``InternalClientError`` counts: a connection whose server went away mid-statement can be
    left with its protocol in a state no later statement may enter ("cannot switch to state
    12; another operation (2) is in progress"); such a connection is closed, never reused."""
    import asyncpg

    return isinstance(error, asyncpg.InterfaceError | OSError | asyncio.TimeoutError) or (
        storage_failure(error) is not None
    )


async def _no_reset(_connection: asyncpg.Connection) -> None:
    """The pool's reset on release, without asyncpg's default ``RESET ALL; UNLISTEN *; …``
    round trip (11 % of the server's time at 16 in flight): these statements leave no session
    state behind (no SET, LISTEN, cursor or advisory lock), and asyncpg still rolls back a
    transaction left open."""


class LeanPostgres:
    """A pool of plain asyncpg connections, opened on first use in the running loop."""

    def __init__(self, connect: dict[str, Any], *, max_size: int = POSTGRES_POOL_SIZE) -> None:
        self._connect = connect
        self._max_size = max_size
        self._pool: asyncpg.Pool | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._opening: asyncio.Lock | None = None
        self._warm: tuple[str, ...] = ()

    def warm_with(self, *statements: str) -> None:
        """Run ``statements`` (with NULL for every parameter: they must match no row) on each
        new connection before the pool hands it out, so that the first request on it does not
        pay for the backend's catalogue loads and the statements' preparation."""
        self._warm = statements

    async def fetchrow(self, query: str, *args: Any) -> asyncpg.Record | None:
        """The first row of ``query`` (one statement, autocommit: its own transaction). A dead
        connection is retried once; then, or when the server cannot be reached,
        StorageUnavailable."""
        for attempt in (1, 2):
            try:
                pool = await self._open()
                async with pool.acquire() as connection:
                    try:
                        row: asyncpg.Record | None = await connection.fetchrow(query, *args)
                    except Exception as exc:
                        if _dead_connection(exc):
                            connection.terminate()  # the pool opens a new one in its place
                        raise
                    return row
            except Exception as exc:
                if not _dead_connection(exc):
                    raise
                if attempt == 2:
                    log.warning("database unreachable", extra={"error": type(exc).__name__})
                    raise StorageUnavailable(UNAVAILABLE) from exc
                if self._pool is not None:
                    await self._pool.expire_connections()  # the others died with it, most likely
        raise AssertionError("unreachable")

    async def _open(self) -> asyncpg.Pool:
        loop = asyncio.get_running_loop()
        if self._pool is not None and self._loop is loop:
            return self._pool
        if self._opening is None or self._loop is not loop:
            self._opening, self._loop, self._pool = asyncio.Lock(), loop, None
        async with self._opening:
            if self._pool is None:
                import asyncpg

                self._pool = await asyncpg.create_pool(
                    **self._connect,
                    min_size=self._max_size,
                    max_size=self._max_size,
                    reset=_no_reset,
                    init=self._init,
                )
            return self._pool

    async def _init(self, connection: asyncpg.Connection) -> None:
        for statement in self._warm:
            parameters = max((int(n) for n in re.findall(r"\$(\d+)", statement)), default=0)
            await connection.fetchrow(statement, *[None] * parameters)

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        if self._loop is asyncio.get_running_loop():
            await pool.close()
        else:  # made in another loop (a test's): its connections cannot be awaited here
            pool.terminate()
