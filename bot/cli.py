"""The ``certdesk`` command line. Each command group lives in ``bot/commands/<name>.py`` and
registers itself with ``register(subparsers)``; its handler takes (args, settings) and returns
the exit code."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from bot.commands import COMMAND_MODULES
from bot.logs import configure_logging
from bot.runtime import CaUnavailable, SchemaOutOfDate
from bot.settings import Settings


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="certdesk", description="Self-service helpdesk for X.509 certificates."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as exc:
        print(f"certdesk: configuration error:\n{exc}", file=sys.stderr)
        return 2
    configure_logging(level=settings.log_level, fmt=settings.log_format)
    try:
        code: int = args.handler(args, settings)
    except SchemaOutOfDate as exc:
        print(f"certdesk: {exc}", file=sys.stderr)
        return 2
    except CaUnavailable as exc:
        print(f"certdesk: cannot start the issuing CA: {exc}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
