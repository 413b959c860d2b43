"""Fixtures of the scheduler tests: a migrated database on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.scheduler.support import migrated_engine


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on a freshly migrated database (SQLite and a real PostgreSQL)."""
    async with migrated_engine(database_url) as engine:
        yield engine
