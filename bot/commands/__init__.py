"""CLI command groups; each module has ``register(subparsers)``.

Registering a group imports nothing but argparse and small constant tables: a handler imports
what it needs when it runs, so ``certdesk --help`` and the commands that need no database start
without loading the server (tests/bot/test_cli_imports.py holds this).
"""

from __future__ import annotations

from types import ModuleType

from bot.commands import ask, clock, db, inspect, outbox, ra, reminders, serve, token

COMMAND_MODULES: tuple[ModuleType, ...] = (
    serve,
    db,
    ra,
    reminders,
    clock,
    ask,
    inspect,
    token,
    outbox,
)
