"""The ``certdesk`` command line. Each command group lives in ``bot/commands/<name>.py`` and
registers itself with ``register(subparsers)``; its handler takes (args, settings) and returns
the exit code.

Only argparse is imported before the arguments are parsed; the settings and each handler's
dependencies are imported once a command is chosen, so ``--help`` answers at once.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from bot.commands import COMMAND_MODULES

if TYPE_CHECKING:
    from pydantic import ValidationError


SHELLS = ("bash", "zsh")


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed_version

    try:
        return installed_version("certdesk")
    except PackageNotFoundError:
        return "unknown (not installed)"


class PrintVersion(argparse.Action):
    """``--version``: print the installed version and exit. The version is read from the package's
    metadata only when asked: importing importlib.metadata and scanning the installed packages
    would cost every command's start-up (argparse's own ``version`` action needs the string
    when the parser is built)."""

    def __init__(self, option_strings: Sequence[str], dest: str, help: str | None = None) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[object] | None,
        option_string: str | None = None,
    ) -> None:
        print(f"certdesk {version()}")
        parser.exit()


class PrintCompletion(argparse.Action):
    """``--print-completion SHELL``: print the completion script (argcomplete) and exit."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[object] | None,
        option_string: str | None = None,
    ) -> None:
        from argcomplete.shell_integration import shellcode

        print(shellcode([parser.prog], shell=str(values)), end="")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="certdesk",
        description="Self-service helpdesk for X.509 certificates.",
        epilog='Shell completion: eval "$(certdesk --print-completion bash)" in ~/.bashrc '
        "(zsh: the same with zsh, in ~/.zshrc).",
    )
    parser.add_argument("--version", action=PrintVersion, help="print the version and exit")
    parser.add_argument(
        "--print-completion",
        choices=SHELLS,
        action=PrintCompletion,
        help="print the shell completion script for SHELL and exit",
        metavar="SHELL",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    if "_ARGCOMPLETE" in os.environ:  # the shell asks for completions: answer and exit
        import argcomplete

        argcomplete.autocomplete(parser)
    args = parser.parse_args(argv)

    from bot.logs import configure_logging

    local = getattr(args, "local_handler", None)
    if local is not None:  # reads no configuration: no Settings (pydantic) to build
        configure_logging(level="INFO", fmt="auto")  # what the settings give when nothing is set
        return _run(lambda: local(args))

    from pydantic import ValidationError

    from bot.settings import Settings

    try:
        settings = Settings()
    except ValidationError as exc:
        print(f"certdesk: configuration error: {configuration_problem(exc)}", file=sys.stderr)
        return 2
    configure_logging(level=settings.log_level, fmt=settings.log_format)
    return _run(lambda: args.handler(args, settings))


def _run(handler: Callable[[], int]) -> int:
    """The handler's exit status; a failure to start (:func:`startup_problem`) as one line."""
    try:
        code: int = handler()
    except Exception as exc:
        problem = startup_problem(exc)
        if problem is None:
            raise
        print(f"certdesk: {problem}", file=sys.stderr)
        return 2
    return code


def configuration_problem(exc: ValidationError) -> str:
    """One line naming each wrong variable and what it needs, never the value it was given
    (it may be a secret): pydantic's own text quotes the input."""
    problems = []
    for error in exc.errors(include_input=False, include_url=False, include_context=False):
        message = str(error["msg"]).removeprefix("Value error, ")
        names = [str(part) for part in error["loc"]]
        if names and not any(name in message for name in names):
            message = f"{'.'.join(names)}: {message}"
        problems.append(" ".join(message.split()))
    return "; ".join(problems) + " (fix it in the environment or the .env file)"


def startup_problem(exc: Exception) -> str | None:
    """What to print for an exception that means the store, the CA or the knowledge entries
    cannot start, or None.

    They come from :mod:`bot.datadir`, :mod:`bot.runtime`, :mod:`enrollment.errors` and
    :mod:`faq.errors`, which only the
    commands that use them import: when a module is not loaded, ``exc`` is none of its errors.
    """
    if "bot.datadir" in sys.modules:
        from bot.datadir import DataDirMissing

        if isinstance(exc, DataDirMissing):
            return exc.message
    if "faq.errors" in sys.modules:
        from faq.errors import EntryInvalid, KnowledgeDirMissing

        if isinstance(exc, EntryInvalid):
            return f"{exc} (fix the file, or unset CERTDESK_KNOWLEDGE_DIR)"
        if isinstance(exc, KnowledgeDirMissing):
            return f"{exc}: create it, or correct or unset CERTDESK_KNOWLEDGE_DIR"
    if "enrollment.errors" in sys.modules:
        from enrollment.errors import StorageUnavailable

        if isinstance(exc, StorageUnavailable):  # a damaged, full or unreachable database
            return exc.message
    if "bot.runtime" not in sys.modules:
        return None
    from bot.runtime import CannotListen, CaUnavailable, SchemaOutOfDate

    if isinstance(exc, SchemaOutOfDate | CannotListen):
        return str(exc)
    if isinstance(exc, CaUnavailable):
        return f"cannot start the issuing CA: {exc}"
    return None


if __name__ == "__main__":
    sys.exit(main())
