"""``certdesk backup FILE`` / ``certdesk restore FILE``: the CA directory, the secret key and
the embedded database in one archive (:mod:`bot.backup`); PostgreSQL is dumped with pg_dump."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from bot.commands.shared import SubParsers, announce_data_dir, command, fail

if TYPE_CHECKING:
    from bot.settings import Settings


def register(sub: SubParsers) -> None:
    backup = command(sub, "backup", run_backup)
    backup.add_argument("file", metavar="FILE", type=Path, help="the archive to write")

    restore = command(sub, "restore", run_restore)
    restore.add_argument("file", metavar="FILE", type=Path, help="the archive to read")


def run_backup(args: argparse.Namespace, settings: Settings) -> int:
    """write the CA keys, the secret key and the SQLite database to one archive

    Write a gzip'd tar (mode 0600: it holds the CA's private keys) of the CA directory, the secret
    key and the embedded SQLite database, copied with SQLite's online backup API so the server may
    keep running. With PostgreSQL, back the database up with pg_dump as well (docs/deploy.md).
    """
    from bot.backup import BackupError, create_backup

    try:
        report = create_backup(
            data_dir=settings.data_dir,
            database_url=settings.database_url,
            archive=args.file,
            secret_key_in_environment=settings.secret_key is not None,
        )
    except BackupError as exc:
        return fail(exc.message)
    except OSError as exc:
        return fail(f"cannot write {args.file}: {exc.strerror or exc}")
    announce_data_dir(settings.data_dir)
    print(f"Backed up {', '.join(report.members)} to {report.archive}.")
    if report.database == "external":
        print("The database is not SQLite: back it up with pg_dump too (docs/deploy.md).")
    if report.secret_key_in_environment:
        print("CERTDESK_SECRET_KEY is set in the environment: keep a copy of it with this backup.")
    print("Keep the archive offline and private: it holds the CA's private keys.")
    return 0


def run_restore(args: argparse.Namespace, settings: Settings) -> int:
    """restore a `certdesk backup` archive into an empty data directory

    Unpack an archive written by `certdesk backup` into CERTDESK_DATA_DIR, which must hold no CA,
    secret key or database yet. Stop certdesk first.
    """
    from bot.backup import BackupError, restore_backup

    try:
        restored = restore_backup(
            archive=args.file, data_dir=settings.data_dir, database_url=settings.database_url
        )
    except BackupError as exc:
        return fail(exc.message)
    except OSError as exc:
        return fail(f"cannot restore into {settings.data_dir}: {exc.strerror or exc}")
    announce_data_dir(settings.data_dir)
    print(f"Restored {', '.join(restored)} into {settings.data_dir.resolve()}.", file=sys.stdout)
    if "certdesk.db" not in restored and settings.is_embedded_sqlite:
        print("The archive holds no database: restore the pg_dump of it as well.")
    return 0
