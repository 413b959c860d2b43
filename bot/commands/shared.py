"""What the command groups share: a command with actions under it, and the failure line."""

from __future__ import annotations

import argparse
import sys
from typing import TypeAlias

SubParsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def command_group(sub: SubParsers, name: str, *, help: str) -> SubParsers:
    """``certdesk NAME ACTION ...``: the parser of NAME's actions (one of them is required)."""
    parser = sub.add_parser(name, help=help)
    return parser.add_subparsers(dest=f"{name}_command", required=True, metavar="ACTION")


def fail(message: str) -> int:
    """Say what went wrong on standard error; the exit status of a refused command."""
    print(f"certdesk: {message}", file=sys.stderr)
    return 1
