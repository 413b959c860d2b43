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
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.util import greenlet_spawn

from enrollment.ca.crl import RevokedEntry, SerialState
from enrollment.models import Certificate, CertificateStatus

log = logging.getLogger(__name__)

_TABLE = Certificate.__table__  # type: ignore[attr-defined]
_COLUMNS = "serial, status, revoked_at, revocation_reason"
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
            if self._connection is not None:
                connection, self._connection = self._connection, None
                await greenlet_spawn(connection.close)  # back to the pool

    async def _select(self, serials: Sequence[str]) -> Sequence[Sequence[Any]]:
        if self._connection is None:
            self._connection = await self._engine.raw_connection()
        driver: Any = self._connection.driver_connection
        if self._postgres:  # asyncpg, prepared once and cached by the driver
            sql = f"SELECT {_COLUMNS} FROM {_TABLE.name} WHERE serial = ANY($1::varchar[])"  # noqa: S608
            return list(await driver.fetch(sql, list(serials)))
        # aiosqlite; the connection is in autocommit (enrollment/db.py issues BEGIN itself)
        marks = ", ".join("?" * len(serials))
        sql = f"SELECT {_COLUMNS} FROM {_TABLE.name} WHERE serial IN ({marks})"  # noqa: S608
        return list(await driver.execute_fetchall(sql, tuple(serials)))

    async def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            await greenlet_spawn(connection.invalidate)
