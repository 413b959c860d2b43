"""CLI command groups; each module has ``register(subparsers)``, which declares its commands with
:func:`bot.commands.shared.command`: a name, the handler that runs it (its docstring is the
command's help), and the arguments.

Registering a group imports nothing but argparse and small constant tables: a handler imports
what it needs when it runs, so ``certdesk --help`` and the commands that need no database start
without loading the server (tests/bot/test_cli_imports.py holds this).
"""

from __future__ import annotations

from types import ModuleType

from bot.commands import ask, clock, db, faq, init, inspect, outbox, ra, reminders, serve, token
from bot.commands import backup as backup_commands

COMMAND_MODULES: tuple[ModuleType, ...] = (
    serve,
    init,
    db,
    ra,
    reminders,
    clock,
    ask,
    faq,
    inspect,
    token,
    backup_commands,
    outbox,
)
