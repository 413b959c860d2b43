"""What a one-shot command needs of the runtime without loading SQLAlchemy: the enrollment
domain's configuration, and on the embedded database the writer of plain units.

``certdesk ra issue`` with nothing to deliver writes its enrollments through
:func:`plain_writer` (:meth:`enrollment.writer.GroupCommit.plain`: the server's writer, its
plain ``sqlite3`` units only); every other case opens the whole runtime
(:func:`bot.runtime.open_runtime`), which migrates a database that is behind.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import TYPE_CHECKING

from enrollment.services.config import EnrollmentConfig

if TYPE_CHECKING:
    from bot.settings import Settings
    from enrollment.writer import GroupCommit


def enrollment_config(settings: Settings) -> EnrollmentConfig:
    """The enrollment domain's configuration, from the settings."""
    return EnrollmentConfig(
        public_url=settings.public_url,
        link_ttl=timedelta(hours=settings.link_ttl_hours),
        max_failed_attempts=settings.max_failed_attempts,
        possession_renewal_window=(
            timedelta(days=settings.possession_renewal_days)
            if settings.possession_renewal_days
            else None
        ),
    )


@asynccontextmanager
async def plain_writer(settings: Settings) -> AsyncIterator[GroupCommit | None]:
    """The writer of plain units on the embedded database file of an existing data directory
    (:class:`bot.datadir.DataDirMissing` otherwise, as :func:`bot.runtime.open_runtime` with
    ``create=False``), or None when the whole runtime is needed: another database, a URL with
    options (only SQLAlchemy's dialect reads them), or a schema that is not the newest."""
    from bot.database import head_revision, sqlite_revision
    from bot.datadir import prepare_data_dir, require_data, sqlite_path
    from enrollment.writer import GroupCommit

    path = sqlite_path(settings.database_url)
    if path is None or "?" in settings.database_url:
        yield None
        return
    require_data(settings)
    prepare_data_dir(settings.data_dir, database_url=settings.database_url)
    writer = GroupCommit.plain(str(path))
    try:
        current = await writer.read(sqlite_revision) == head_revision()
        yield writer if current else None
    finally:
        writer.close()
