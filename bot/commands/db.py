"""``certdesk db upgrade``: apply the schema migrations."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from bot.commands.shared import SubParsers, announce_data_dir, command, command_group

if TYPE_CHECKING:
    from bot.settings import Settings


def register(sub: SubParsers) -> None:
    db_sub = command_group(sub, "db", help="database schema")
    up = command(db_sub, "upgrade", run_upgrade)
    up.add_argument(
        "revision", nargs="?", default="head", help="the revision to reach (default head)"
    )


def run_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    """apply migrations up to the newest schema"""
    from bot.database import upgrade
    from bot.datadir import prepare_data_dir

    prepare_data_dir(settings.data_dir, database_url=settings.database_url)
    announce_data_dir(settings.data_dir)
    upgrade(settings.database_url, args.revision)
    print(f"database schema is at {args.revision}", file=sys.stderr)
    return 0
