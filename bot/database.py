"""Schema migrations (Alembic, shipped inside the package) and the engine's lifecycle.

Alembic is imported only to migrate: reading which revision a database is at, and which one
this certdesk needs, costs a query and a directory listing, so a process whose schema is
already current starts without it.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy.engine import Connection
    from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).parent / "migrations"
VERSION_TABLE = "alembic_version"  # Alembic's default, which env.py keeps
_REVISION = re.compile(r"""^revision(?:: *str)? *= *['"]([^'"]+)['"]""", re.MULTILINE)
_DOWN_REVISION = re.compile(r"""^down_revision(?:: *[\w |]+)? *= *['"]([^'"]+)['"]""", re.MULTILINE)

FOLDED_REVISIONS = frozenset(
    {"0001", "0002", "0003", "0004", "0005", "0006", "0007", "0008", "0009"}
)
"""certdesk 0.1.0's revisions below 0013, folded into the baseline (versions/0013_baseline.py):
this certdesk cannot migrate a database at one of them, 0.1.0's ``certdesk db upgrade`` can."""


class SchemaOutOfDate(RuntimeError):
    """The database schema is not the one this certdesk needs; the message says what to do."""


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


def _revisions() -> tuple[set[str], set[str]]:
    """Every revision the shipped migrations declare, and every one they name as a parent. Read
    from the scripts' text without importing Alembic (tests/bot/test_migrations.py checks it
    against Alembic's own reading)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in (MIGRATIONS / "versions").glob("*.py"):
        source = script.read_text(encoding="utf-8")
        revisions.update(_REVISION.findall(source))
        parents.update(_DOWN_REVISION.findall(source))
    return revisions, parents


def head_revision() -> str:
    """The newest revision: the one no other migration names as its ``down_revision``."""
    revisions, parents = _revisions()
    heads = revisions - parents
    assert len(heads) == 1, f"the migrations have {len(heads)} heads: {sorted(heads)}"
    return heads.pop()


def refuse_unknown(current: str | None) -> None:
    """Raise :class:`SchemaOutOfDate` when the database is at a revision none of the shipped
    migrations leads from (``current``; None, no schema yet, is fine): Alembic would stop with
    a traceback, or half-way, and nothing here may touch such a database."""
    if current is None or current in _revisions()[0]:
        return
    if current in FOLDED_REVISIONS:
        raise SchemaOutOfDate(
            f"The database schema is at revision {current}, from certdesk 0.1.0, whose "
            "migrations this certdesk has folded into one baseline (revision 0013): upgrade it "
            "with certdesk 0.1.0 first (its `certdesk db upgrade` reaches 0013), then run "
            "`certdesk db upgrade` with this one. Nothing was changed."
        )
    raise SchemaOutOfDate(
        f"The database schema is at revision {current!r}, which none of this certdesk's "
        f"migrations (the newest: {head_revision()}) knows: a newer certdesk migrated it, or it "
        "is not certdesk's database. Run the certdesk that migrated it, or set "
        "CERTDESK_DATABASE_URL to certdesk's own database. Nothing was changed."
    )


_VERSIONS = "SELECT version_num FROM alembic_version"  # VERSION_TABLE


def _one_revision(rows: Sequence[str]) -> str | None:
    return rows[0] if len(rows) == 1 else None  # several heads: not a revision of ours


def revision_of(connection: Connection) -> str | None:
    """:func:`current_revision` on a synchronous connection (Alembic's env.py)."""
    from sqlalchemy import inspect, text

    if not inspect(connection).has_table(VERSION_TABLE):
        return None
    return _one_revision(connection.execute(text(_VERSIONS)).scalars().all())


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at; None when it has no schema (or an unknown shape)."""
    from enrollment.reads import read_connection

    async with read_connection(engine) as connection:
        return await connection.run_sync(revision_of)


def sqlite_revision(connection: sqlite3.Connection) -> str | None:
    """:func:`current_revision` of an embedded database, on a plain ``sqlite3`` connection
    (what a command that loads no SQLAlchemy reads, :meth:`enrollment.writer.GroupCommit.read`)."""
    table = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"
    if connection.execute(table, (VERSION_TABLE,)).fetchone() is None:
        return None
    return _one_revision([row[0] for row in connection.execute(_VERSIONS)])


async def downgrade_async(url: str, revision: str) -> None:
    from alembic import command

    await asyncio.to_thread(command.downgrade, alembic_config(url), revision)
