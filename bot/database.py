"""Schema migrations (Alembic, shipped inside the package) and the engine's lifecycle.

Alembic is imported only to migrate: reading which revision a database is at, and which one
this certdesk needs, costs a query and a directory listing, so a process whose schema is
already current starts without it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
VERSION_TABLE = "alembic_version"  # Alembic's default, which env.py keeps


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Apply migrations up to ``revision``. Blocking (it runs its own event loop)."""
    from alembic import command

    command.upgrade(alembic_config(url), revision)


async def upgrade_async(url: str) -> None:
    await asyncio.to_thread(upgrade, url)


def head_revision() -> str:
    """The newest revision, read from the file names: each migration is ``NNNN_what.py`` with
    revision ``"NNNN"`` and down-revision the one before (tests/bot/test_migrations.py checks
    this against Alembic's own reading)."""
    names = sorted(
        path.name for path in (MIGRATIONS / "versions").glob("[0-9][0-9][0-9][0-9]_*.py")
    )
    assert names, f"no migrations in {MIGRATIONS / 'versions'}"
    return names[-1][:4]


def _revision_of(connection: Connection) -> str | None:
    if not inspect(connection).has_table(VERSION_TABLE):
        return None
    rows = connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    return rows[0] if len(rows) == 1 else None  # several heads: not a revision of ours


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at; None when it has no schema (or an unknown shape)."""
    async with engine.connect() as connection:
        return await connection.run_sync(_revision_of)


async def downgrade_async(url: str, revision: str) -> None:
    from alembic import command

    await asyncio.to_thread(command.downgrade, alembic_config(url), revision)
