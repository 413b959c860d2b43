"""Alembic owns the schema: the migrations produce exactly the tables the models describe."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

from bot import database
from bot.cli import main
from bot.database import (
    SchemaOutOfDate,
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

BASELINE = "0013"  # 0.1.0's migrations folded into one (bot/migrations/versions/0013_baseline.py)


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


def _next_release(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The shipped migrations and one more, as the next release of certdesk would ship them
    (the baseline is the only revision, so no older one can show an upgrade); its revision."""
    migrations = tmp_path / "next-release-migrations"
    shutil.copytree(database.MIGRATIONS, migrations, ignore=shutil.ignore_patterns("__pycache__"))
    (migrations / "versions" / "9001_probe.py").write_text(
        '''"""probe: a table the next release adds"""

import sqlalchemy as sa
from alembic import op

revision = "9001"
down_revision = "{head}"


def upgrade() -> None:
    op.create_table("probe", sa.Column("id", sa.Integer(), primary_key=True))


def downgrade() -> None:
    op.drop_table("probe")
'''.replace("{head}", head_revision())
    )
    monkeypatch.setattr(database, "MIGRATIONS", migrations)
    return "9001"


async def test_prepare_schema_upgrades_an_old_embedded_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cheap revision check still lets an older schema be migrated to the newest."""
    settings = _embedded(tmp_path)
    await upgrade_async(settings.database_url)
    shipped = await _revision(settings)
    newest = _next_release(tmp_path, monkeypatch)
    engine = create_engine(settings.database_url)
    try:
        await prepare_schema(settings, engine)
    finally:
        await engine.dispose()
    assert (shipped, await _revision(settings)) == (BASELINE, newest)


async def test_plain_revision_reads_what_current_revision_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`ra issue`'s plain sqlite3 check of the schema agrees with SQLAlchemy's reading: no
    schema, an older revision (the whole runtime then migrates it), the newest."""
    settings = _embedded(tmp_path)
    writer = GroupCommit.plain(str(tmp_path / "certdesk.db"))
    try:
        seen = [(await writer.read(sqlite_revision), await _revision(settings))]
        await upgrade_async(settings.database_url)
        newest = _next_release(tmp_path, monkeypatch)
        seen.append((await writer.read(sqlite_revision), await _revision(settings)))
        await upgrade_async(settings.database_url)
        seen.append((await writer.read(sqlite_revision), await _revision(settings)))
    finally:
        writer.close()
    assert seen == [(None, None), (BASELINE, BASELINE), (newest, newest)]


async def _schema(url: str) -> list[tuple[str, ...]]:
    """Every table and index with its columns, and the revision: what a refusal must not touch."""
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(_schema_of)
    finally:
        await engine.dispose()


def _schema_of(connection: Connection) -> list[tuple[str, ...]]:
    inspector = inspect(connection)
    rows: list[tuple[str, ...]] = [("revision", str(database.revision_of(connection)))]
    for table in sorted(inspector.get_table_names()):
        rows.append((table, *(column["name"] for column in inspector.get_columns(table))))
        rows.extend(
            (table, str(index["name"]), *map(str, index["column_names"]))
            for index in inspector.get_indexes(table)
        )
    return rows


async def _set_revision(url: str, revision: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                text("UPDATE alembic_version SET version_num = :revision"), {"revision": revision}
            )
    finally:
        await engine.dispose()


@pytest.mark.parametrize(
    ("revision", "says"),
    [
        pytest.param(
            "0005",
            "at revision 0005, from certdesk 0.1.0, whose migrations this certdesk has folded "
            "into one baseline (revision 0013): upgrade it with certdesk 0.1.0 first",
            id="folded",
        ),
        pytest.param(
            "ffff",
            "at revision 'ffff', which none of this certdesk's migrations (the newest: 0013) "
            "knows: a newer certdesk migrated it, or it is not certdesk's database",
            id="unknown",
        ),
    ],
)
async def test_a_schema_at_a_revision_without_migrations_is_refused_untouched(
    database_url: str, revision: str, says: str
) -> None:
    """A database at one of 0.1.0's folded revisions, or at one this certdesk does not know
    (Alembic stopped with a traceback), is refused by name before anything changes."""
    await upgrade_async(database_url)
    await _set_revision(database_url, revision)
    before = await _schema(database_url)
    with pytest.raises(SchemaOutOfDate) as refused:
        await upgrade_async(database_url)
    assert says in str(refused.value)
    assert str(refused.value).endswith("Nothing was changed.")
    assert await _schema(database_url) == before


async def test_db_upgrade_and_serve_name_the_folded_revision_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`certdesk db upgrade`, and an embedded database migrating itself at start, print the
    refusal as one line and exit 2; no traceback."""
    settings = _embedded(tmp_path)
    await upgrade_async(settings.database_url)
    await _set_revision(settings.database_url, "0007")
    before = await _schema(settings.database_url)
    monkeypatch.setenv("CERTDESK_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("CERTDESK_DATABASE_URL", raising=False)
    code = await asyncio.to_thread(main, ["db", "upgrade"])
    printed = capsys.readouterr().err.splitlines()
    engine = create_engine(settings.database_url)
    try:
        with pytest.raises(SchemaOutOfDate, match=r"at revision 0007, from certdesk 0\.1\.0"):
            await prepare_schema(settings, engine)
    finally:
        await engine.dispose()
    assert code == 2
    assert printed[-1].startswith("certdesk: The database schema is at revision 0007, from")
    assert not any("Traceback" in line for line in printed)
    assert await _schema(settings.database_url) == before
