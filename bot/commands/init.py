"""``certdesk init``: create the data directory, the secret key, the CA and the database.

The only command besides ``serve`` and ``db upgrade`` that creates certdesk's data; the others
refuse to, so a command run from the wrong folder cannot quietly start a second CA. Running it
again on a complete data directory changes nothing.
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from bot.commands.shared import SubParsers, announce_data_dir, command

if TYPE_CHECKING:
    from bot.settings import Settings


def register(sub: SubParsers) -> None:
    parser = command(sub, "init", run_init)
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run_init(args: argparse.Namespace, settings: Settings) -> int:
    """create the data directory, secret key, CA and database (once, explicitly)

    Create what certdesk keeps in CERTDESK_DATA_DIR (default ./var): the secret key, the local CA
    (or its certificate for the HSM key), and the database schema (the embedded SQLite file, or the
    migrations on CERTDESK_DATABASE_URL). Nothing that exists is replaced.
    """
    import asyncio

    from bot.database import upgrade_async
    from bot.datadir import ca_directory, missing_data, prepare_data_dir
    from bot.runtime import open_runtime
    from bot.startup import describe, startup_facts

    missing = missing_data(
        settings.data_dir,
        database_url=settings.database_url,
        needs_ca=ca_directory(settings).name,
        needs_secret_key=settings.secret_key is None,
    )

    async def go() -> dict[str, object]:
        if not settings.is_embedded_sqlite:
            prepare_data_dir(settings.data_dir)
            await upgrade_async(settings.database_url)
        async with open_runtime(settings, create=True) as runtime:
            return startup_facts(settings, runtime.ca)

    facts = asyncio.run(go())
    created = missing or []
    announce_data_dir(settings.data_dir)
    if args.json:
        print(json.dumps({**facts, "created": created}, ensure_ascii=False))
    elif created:
        print(f"certdesk initialised ({', '.join(created)} created): {describe(facts)}")
    else:
        print(f"certdesk was already initialised here; nothing changed: {describe(facts)}")
    return 0
