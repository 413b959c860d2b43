"""The certificates' states for the OCSP responder: one indexed lookup in plain SQL on a
long-lived read connection of the engine.

An OCSP answer must know the state the store has *now* (a revocation by any process shows on
the next request), and the responder asks for it on every request (batched by
``responder.FreshStates``). A session from the pool per read costs a checkout, a ``BEGIN``, the
ORM's statement and result machinery and a ``ROLLBACK``: most of a cached answer's time. Here
one connection is taken from the pool once and kept, outside any transaction (autocommit: each
statement sees what was committed before it began, on SQLite a WAL read that takes no lock),
and each read is one statement by the unique index on ``certificate.serial``. A connection that
fails is dropped and the read tried once more on a fresh one (a restarted PostgreSQL); a second
failure reaches the responder, which answers ``tryLater``.

On the embedded SQLite, a read of up to ``INLINE_SERIALS`` serials runs on the event loop, on a
connection of its own that never waits for a lock (busy timeout 0, ``query_only``): it is a
few B-tree lookups in pages the OS has cached (microseconds), where the hop to aiosqlite's
thread and back costs more than the read and, on one core, leaves the loop idle while it waits.
A read that would wait (``SQLITE_BUSY``: not in WAL mode, a WAL restart) or fails, and every
larger batch, goes through the pooled connection's thread instead.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.util import greenlet_spawn

from enrollment.ca.crl import RevokedEntry, SerialState
from enrollment.models import Certificate, CertificateStatus

log = logging.getLogger(__name__)

_TABLE = Certificate.__table__  # type: ignore[attr-defined]
_COLUMNS = "serial, status, revoked_at, revocation_reason"
INLINE_SERIALS = 32
NOT_ISSUED = SerialState(issued=False)
ISSUED = SerialState(issued=True)


class StoreStates:
    """``responder.SerialStates`` on one connection held for the responder's life; ``close``
    gives it back to the pool (before the engine is disposed)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._postgres = engine.dialect.name == "postgresql"
        revoked_at = _TABLE.c.revoked_at.type.dialect_impl(engine.dialect)
        self._read_time: Callable[[Any], datetime | None] = revoked_at.result_processor(
            engine.dialect, None
        ) or (lambda value: value)
        self._connection: PoolProxiedConnection | None = None
        self._lock = asyncio.Lock()
        url = engine.url
        embedded = engine.dialect.name == "sqlite" and not url.query
        self._sqlite_file = (
            url.database if embedded and url.database not in (None, "", ":memory:") else None
        )
        self._inline: sqlite3.Connection | None = None

    async def serial_states(self, serials: Sequence[str]) -> dict[str, SerialState]:
        """What the store says of each serial (lowercase hex) at this moment."""
        async with self._lock:
            try:
                rows = await self._select(serials)
            except Exception as exc:  # a dropped connection: once more on a fresh one
                log.info("OCSP read connection lost", extra={"error": type(exc).__name__})
                await self._drop()
                rows = await self._select(serials)
        states = dict.fromkeys(serials, NOT_ISSUED)
        for serial, status, revoked_at, reason in rows:
            if status != CertificateStatus.REVOKED:
                states[serial] = ISSUED
                continue
            when = self._read_time(revoked_at)
            assert when is not None
            entry = RevokedEntry(serial=serial, revoked_at=when, reason=reason)
            states[serial] = SerialState(issued=True, revoked=entry)
        return states

    async def close(self) -> None:
        async with self._lock:
            self._close_inline()
            if self._connection is not None:
                connection, self._connection = self._connection, None
                await greenlet_spawn(connection.close)  # back to the pool

    async def _select(self, serials: Sequence[str]) -> Sequence[Sequence[Any]]:
        if self._sqlite_file is not None and len(serials) <= INLINE_SERIALS:
            rows = await self._select_inline(serials)
            if rows is not None:
                return rows
        if self._connection is None:
            self._connection = await self._engine.raw_connection()
        driver: Any = self._connection.driver_connection
        if self._postgres:  # asyncpg, prepared once and cached by the driver
            sql = f"SELECT {_COLUMNS} FROM {_TABLE.name} WHERE serial = ANY($1::varchar[])"  # noqa: S608
            return list(await driver.fetch(sql, list(serials)))
        # aiosqlite; the connection is in autocommit (enrollment/db.py issues BEGIN itself)
        return list(await driver.execute_fetchall(_sqlite_select(len(serials)), tuple(serials)))

    async def _select_inline(self, serials: Sequence[str]) -> list[Any] | None:
        """The rows from the loop's own SQLite connection, or None when it would have to wait
        or cannot read (the caller reads through the pool instead)."""
        try:
            if self._inline is None:
                assert self._sqlite_file is not None
                self._inline = await asyncio.to_thread(_open_inline, self._sqlite_file)
            return self._inline.execute(_sqlite_select(len(serials)), tuple(serials)).fetchall()
        except sqlite3.Error as exc:
            if not _busy(exc):  # kept while it merely has to wait; else opened anew next time
                log.info("OCSP inline read failed", extra={"error": type(exc).__name__})
                self._close_inline()
            return None

    def _close_inline(self) -> None:
        inline, self._inline = self._inline, None
        if inline is not None:
            inline.close()

    async def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            await greenlet_spawn(connection.invalidate)


def _sqlite_select(count: int) -> str:
    marks = ", ".join("?" * count)
    return f"SELECT {_COLUMNS} FROM {_TABLE.name} WHERE serial IN ({marks})"  # noqa: S608


def _busy(error: sqlite3.Error) -> bool:
    code = (getattr(error, "sqlite_errorcode", None) or 0) & 0xFF  # the primary result code
    return code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def _open_inline(path: str) -> sqlite3.Connection:
    # mode=rw: never creates a database; timeout=0: a lock is never waited for on the loop;
    # autocommit: each SELECT reads the latest commit; query_only: it cannot write.
    uri = Path(path).resolve().as_uri() + "?mode=rw"
    connection = sqlite3.connect(
        uri, uri=True, timeout=0, isolation_level=None, check_same_thread=False
    )
    connection.execute("PRAGMA query_only = 1")
    return connection
