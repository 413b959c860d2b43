"""Fixtures of the scheduler tests: a migrated database on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.database import upgrade_async
from enrollment.db import create_engine


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on a freshly migrated database (SQLite and a real PostgreSQL)."""
    await upgrade_async(database_url)
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()
