"""CLI command groups; each module has ``register(subparsers)``."""

from __future__ import annotations

import argparse
from types import ModuleType
from typing import Protocol

from bot.commands import ask, clock, db, inspect, ra, reminders, serve, token


class CommandModule(Protocol):
    def register(self, sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None: ...


COMMAND_MODULES: tuple[ModuleType, ...] = (serve, db, ra, reminders, clock, ask, inspect, token)
