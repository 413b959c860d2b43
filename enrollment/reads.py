"""Reads outside the services' store: a session or a connection that only reads.

On SQLite it is a WAL reader: its transaction begins without the write lock (``READ_ONLY``,
see :mod:`enrollment.db`), so it neither waits for the one writer nor makes it wait. Writes go
through units of work (:mod:`enrollment.writer`), never through these.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from enrollment.db import READ_ONLY


@asynccontextmanager
async def read_session(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    """An ORM session that only reads: ``async with read_session(engine) as session:``."""
    async with AsyncSession(engine, expire_on_commit=False) as session:
        await session.connection(execution_options=READ_ONLY)
        yield session


@asynccontextmanager
async def read_connection(
    engine: AsyncEngine, *, one_statement: bool = False
) -> AsyncIterator[AsyncConnection]:
    """A Core connection that only reads. ``one_statement``: the caller runs a single statement,
    which needs no transaction; on PostgreSQL it then runs in autocommit (no BEGIN/ROLLBACK
    round trips), on SQLite as a WAL reader as always."""
    async with engine.connect() as connection:
        if one_statement and engine.dialect.name != "sqlite":
            yield await connection.execution_options(isolation_level="AUTOCOMMIT")
        else:
            yield await connection.execution_options(**READ_ONLY)
