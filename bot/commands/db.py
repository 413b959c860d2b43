"""``certdesk db upgrade``: apply the schema migrations."""

from __future__ import annotations

import argparse
import sys

from bot.database import upgrade
from bot.settings import Settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("db", help="database schema")
    db_sub = parser.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    up = db_sub.add_parser("upgrade", help="apply migrations up to the newest schema")
    up.add_argument("revision", nargs="?", default="head")
    up.set_defaults(handler=run_upgrade)


def run_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.database_url, args.revision)
    print(f"database schema is at {args.revision}", file=sys.stderr)
    return 0
