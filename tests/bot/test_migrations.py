"""Alembic owns the schema: the migrations produce exactly the tables the models describe."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

from bot.database import downgrade_async, head_revision, upgrade_async
from bot.tables import import_all_tables
from enrollment.db import create_engine


async def test_migrations_match_models(database_url: str) -> None:
    await upgrade_async(database_url)
    import_all_tables()
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            diff = await connection.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), SQLModel.metadata)
            )
            revision = await connection.run_sync(
                lambda sync: MigrationContext.configure(sync).get_current_revision()
            )
    finally:
        await engine.dispose()
    assert diff == []
    assert revision == head_revision()


async def test_migrations_downgrade_to_base_and_up_again(database_url: str) -> None:
    await upgrade_async(database_url)
    await downgrade_async(database_url, "base")
    await upgrade_async(database_url)
