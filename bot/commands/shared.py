"""What the command groups share: how a command is declared (alone, or with actions under it),
how a time argument is read, the failure line, and the line that names the data directory."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:
    from bot.runtime import Runtime
    from bot.settings import Settings

SubParsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
Handler: TypeAlias = "Callable[[argparse.Namespace, Settings], int]"
"""What runs a command: the parsed arguments and the settings in, the exit status out."""
LocalHandler: TypeAlias = "Callable[[argparse.Namespace], int]"
"""What runs a command that reads no configuration (``inspect`` reads a file named on the
command line): the parsed arguments in, the exit status out. The CLI then builds no
:class:`~bot.settings.Settings`, which costs a command's start-up a tenth of a second."""


def command(
    sub: SubParsers, name: str, handler: Handler, **options: Any
) -> argparse.ArgumentParser:
    """``certdesk [GROUP] NAME``, run by ``handler``: its parser, for the caller to add the
    arguments to. The handler's docstring is the command's text: its first paragraph the help
    line in the list of commands, the rest (folded to one paragraph) the description atop
    ``NAME --help``. ``options`` go to argparse as they are (``epilog``, ``formatter_class``)."""
    parser = _described(sub, name, handler.__doc__, options)
    parser.set_defaults(handler=handler)
    return parser


def local_command(
    sub: SubParsers, name: str, handler: LocalHandler, **options: Any
) -> argparse.ArgumentParser:
    """:func:`command` for a handler that reads no configuration (:data:`LocalHandler`)."""
    parser = _described(sub, name, handler.__doc__, options)
    parser.set_defaults(local_handler=handler)
    return parser


def _described(
    sub: SubParsers, name: str, doc: str | None, options: dict[str, Any]
) -> argparse.ArgumentParser:
    summary, _, rest = re.sub(r"\n\s*\n", "\n\n", doc or "").partition("\n\n")
    return sub.add_parser(
        name, help=" ".join(summary.split()), description=" ".join(rest.split()) or None, **options
    )


def command_group(sub: SubParsers, name: str, *, help: str) -> SubParsers:
    """``certdesk NAME ACTION ...``: the parser of NAME's actions (one of them is required)."""
    parser = sub.add_parser(name, help=help)
    return parser.add_subparsers(dest=f"{name}_command", required=True, metavar="ACTION")


def iso_datetime(text: str, *, expected: str) -> datetime:
    """``text`` read as ISO 8601, naive when it names no UTC offset (what a naive time means is
    the caller's rule); argparse's type error ``'TEXT' is not an ISO 8601 EXPECTED`` else."""
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 {expected}") from None


def fail(message: str) -> int:
    """Say what went wrong on standard error; the exit status of a refused command."""
    print(f"certdesk: {message}", file=sys.stderr)
    return 1


def announce_data_dir(data_dir: Path) -> None:
    """The one line on standard error that says which data directory a command used."""
    print(f"certdesk: data directory {data_dir.resolve()}", file=sys.stderr)


@asynccontextmanager
async def cli_runtime(settings: Settings) -> AsyncIterator[Runtime]:
    """The store, CA and use cases of an existing data directory (never a new one: see
    :class:`bot.datadir.DataDirMissing`), after saying on standard error which one."""
    from bot.runtime import open_runtime

    async with open_runtime(settings, create=False) as runtime:
        announce_data_dir(settings.data_dir)
        yield runtime
