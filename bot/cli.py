"""The ``certdesk`` command line. Each command group lives in ``bot/commands/<name>.py`` and
registers itself with ``register(subparsers)``; its handler takes (args, settings) and returns
the exit code.

Only argparse is imported before the arguments are parsed; the settings and each handler's
dependencies are imported once a command is chosen, so ``--help`` answers at once.
"""

from __future__ import annotations

import argparse
import atexit
import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NoReturn

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


class _PrintAndExit(argparse.Action):
    """An option that prints a text and exits, as argparse's own ``version`` action does."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[object] | None,
        option_string: str | None = None,
    ) -> None:
        print(self.text(parser, values), end="")
        parser.exit()

    def text(self, parser: argparse.ArgumentParser, values: object) -> str:
        raise NotImplementedError


class PrintVersion(_PrintAndExit):
    """``--version``: print the installed version and exit. The version is read from the package's
    metadata only when asked: importing importlib.metadata and scanning the installed packages
    would cost every command's start-up (argparse's own ``version`` action needs the string
    when the parser is built)."""

    def __init__(self, option_strings: Sequence[str], dest: str, help: str | None = None) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def text(self, parser: argparse.ArgumentParser, values: object) -> str:
        return f"certdesk {version()}\n"


class PrintCompletion(_PrintAndExit):
    """``--print-completion SHELL``: print the completion script (argcomplete) and exit."""

    def text(self, parser: argparse.ArgumentParser, values: object) -> str:
        from argcomplete.shell_integration import shellcode

        return str(shellcode([parser.prog], shell=str(values)))


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


def console() -> NoReturn:
    """The ``certdesk`` program (the console script, and ``python -m bot.cli``)."""
    sys.exit(main(program=True))


def main(argv: Sequence[str] | None = None, *, program: bool = False) -> int:
    """Run one command; its exit status. ``program``: this process is the ``certdesk`` program,
    and ends when the command does (see :func:`end_now`); in-process callers leave it false."""
    parser = build_parser()
    if "_ARGCOMPLETE" in os.environ:  # the shell asks for completions: answer and exit
        import argcomplete

        argcomplete.autocomplete(parser)
    args = parser.parse_args(argv)

    local = getattr(args, "local_handler", None)
    if local is not None:  # reads no configuration: no Settings (pydantic) to build
        from bot.logs import configure_logging

        configure_logging(level="INFO", fmt="auto")  # what the settings give when nothing is set
        code = _run(lambda: local(args))
    else:
        code = _configured(args)
    if program and getattr(args, "end_now", False):
        end_now(code)
    return code


def _configured(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from bot.logs import configure_logging
    from bot.settings import Settings

    try:
        settings = Settings()
    except ValidationError as exc:
        print(f"certdesk: configuration error: {configuration_problem(exc)}", file=sys.stderr)
        return 2
    configure_logging(level=settings.log_level, fmt=settings.log_format)
    return _run(lambda: args.handler(args, settings))


def end_now(code: int) -> NoReturn:
    """End the process with ``code`` once the exit handlers have run and standard output and
    error are flushed, without tearing the interpreter down.

    For a command that leaves nothing open when it returns (``ask``, ``inspect``: declared with
    ``end_now=True``): freeing every module and object one by one (the knowledge base's index
    holds some 100,000) took a warm ``ask`` about a tenth of a second, which the system does at
    once. A flush that fails (a closed pipe) ends it with :data:`CLOSED_OUTPUT`.
    """
    atexit._run_exitfuncs()  # what the normal exit would run: logging's flush, finalizers
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        os._exit(CLOSED_OUTPUT)
    os._exit(code)


CLOSED_OUTPUT = 120
"""The exit status when standard output was closed by its reader (``certdesk ... | head -1``),
as the interpreter's own exit gives when its last flush fails."""


def _run(handler: Callable[[], int]) -> int:
    """The handler's exit status; a failure to start (:func:`startup_problem`) as one line; a
    reader that closed standard output ends the command quietly (:data:`CLOSED_OUTPUT`)."""
    try:
        code: int = handler()
    except BrokenPipeError:
        # Nothing more can be said to the reader; later flushes (at exit) go nowhere instead.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return CLOSED_OUTPUT
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

    They come from :mod:`bot.datadir`, :mod:`bot.database`, :mod:`bot.runtime`,
    :mod:`enrollment.errors` and :mod:`faq.errors`, which only the commands that use them
    import: when a module is not loaded, ``exc`` is none of its errors.
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
    if "bot.database" in sys.modules:
        from bot.database import SchemaOutOfDate

        if isinstance(exc, SchemaOutOfDate):
            return str(exc)
    if "bot.runtime" not in sys.modules:
        return None
    from bot.runtime import CannotListen, CaUnavailable

    if isinstance(exc, CannotListen):
        return str(exc)
    if isinstance(exc, CaUnavailable):
        return f"cannot start the issuing CA: {exc}"
    return None


if __name__ == "__main__":
    console()
