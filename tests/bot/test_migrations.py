"""Alembic owns the schema: the migrations produce exactly the tables the models describe."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlmodel import SQLModel

from bot.database import (
    alembic_config,
    current_revision,
    downgrade_async,
    head_revision,
    sqlite_revision,
    upgrade_async,
)
from bot.runtime import prepare_schema
from bot.settings import Settings
from bot.tables import import_all_tables
from enrollment.db import create_engine
from enrollment.writer import GroupCommit


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


def test_head_revision_is_alembics_head() -> None:
    """The head read from the file names is the one Alembic reads from the scripts."""
    assert (
        head_revision()
        == ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    )


def _embedded(tmp_path: Path) -> Settings:
    return Settings(_env_file=None, data_dir=tmp_path, database_url_=None)


async def _revision(settings: Settings) -> str | None:
    engine = create_engine(settings.database_url)
    try:
        return await current_revision(engine)
    finally:
        await engine.dispose()


async def test_prepare_schema_creates_a_new_embedded_database(tmp_path: Path) -> None:
    settings = _embedded(tmp_path)
    assert await _revision(settings) is None
    engine = create_engine(settings.database_url)
    try:
        await prepare_schema(settings, engine)
    finally:
        await engine.dispose()
    assert await _revision(settings) == head_revision()


async def test_prepare_schema_upgrades_an_old_embedded_database(tmp_path: Path) -> None:
    """The cheap revision check still lets an older schema be migrated to the newest."""
    settings = _embedded(tmp_path)
    await upgrade_async(settings.database_url)
    await downgrade_async(settings.database_url, "0004")
    assert await _revision(settings) == "0004"
    engine = create_engine(settings.database_url)
    try:
        await prepare_schema(settings, engine)
    finally:
        await engine.dispose()
    assert await _revision(settings) == head_revision()


async def test_plain_revision_reads_what_current_revision_reads(tmp_path: Path) -> None:
    """`ra issue`'s plain sqlite3 check of the schema agrees with SQLAlchemy's reading: no
    schema, an older revision (the whole runtime then migrates it), the newest."""
    settings = _embedded(tmp_path)
    writer = GroupCommit.plain(str(tmp_path / "certdesk.db"))
    try:
        seen = [(await writer.read(sqlite_revision), await _revision(settings))]
        await upgrade_async(settings.database_url)
        await downgrade_async(settings.database_url, "0004")
        seen.append((await writer.read(sqlite_revision), await _revision(settings)))
        await upgrade_async(settings.database_url)
        seen.append((await writer.read(sqlite_revision), await _revision(settings)))
    finally:
        writer.close()
    assert seen == [(None, None), ("0004", "0004"), (head_revision(), head_revision())]
