"""Every argument of every command says what it is for; --version; shell completion."""

from __future__ import annotations

import argparse
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

from bot.cli import build_parser
from tests.support.processes import base_env


def walk(
    parser: argparse.ArgumentParser, path: str = "certdesk"
) -> list[tuple[str, argparse.Action]]:
    found: list[tuple[str, argparse.Action]] = []
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        if isinstance(action, argparse._SubParsersAction):
            helped = {choice.dest: choice.help for choice in action._choices_actions}
            for name, child in action.choices.items():
                if not helped.get(name):
                    found.append((f"{path} {name}", action))
                found.extend(walk(child, f"{path} {name}"))
            continue
        found.append((path, action))
    return found


def test_every_argument_and_command_has_help() -> None:
    actions = walk(build_parser())
    assert len(actions) > 40
    missing = [
        f"{path}: {action.dest}"
        for path, action in actions
        if not action.help or action.help == argparse.SUPPRESS
    ]
    assert missing == []


def test_version_prints_the_installed_version(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "--version"],
        capture_output=True,
        text=True,
        env=base_env(tmp_path),
        timeout=60,
    )
    assert result.returncode == 0
    assert result.stdout.strip() == f"certdesk {version('certdesk')}"


def test_zsh_completion_script_is_printed(tmp_path: Path) -> None:
    script = subprocess.run(
        [sys.executable, "-m", "bot.cli", "--print-completion", "zsh"],
        capture_output=True,
        text=True,
        env=base_env(tmp_path),
        timeout=60,
    )
    assert script.returncode == 0, script.stderr
    assert script.stdout.startswith("#compdef certdesk")


def test_bash_completion_completes_commands_and_options(tmp_path: Path) -> None:
    script = subprocess.run(
        [sys.executable, "-m", "bot.cli", "--print-completion", "bash"],
        capture_output=True,
        text=True,
        env=base_env(tmp_path),
        timeout=60,
    )
    assert script.returncode == 0, script.stderr
    assert "complete " in script.stdout
    assert "certdesk" in script.stdout
    out = tmp_path / "completions"
    for line, expected in (
        ("certdesk ra st", {"status", "stats"}),
        ("certdesk ra list --e", {"--expiring-within"}),
    ):
        env = base_env(
            tmp_path,
            {
                "_ARGCOMPLETE": "1",
                "_ARGCOMPLETE_SHELL": "bash",
                "_ARGCOMPLETE_STDOUT_FILENAME": str(out),
                "COMP_LINE": line,
                "COMP_POINT": str(len(line)),
                "_ARGCOMPLETE_IFS": "\n",
            },
        )
        done = subprocess.run(
            [sys.executable, "-m", "bot.cli"], capture_output=True, text=True, env=env, timeout=60
        )
        assert done.returncode == 0, done.stderr
        assert set(out.read_text().split()) == expected


def test_command_help_and_description_come_from_the_handler_docstring() -> None:
    """The first paragraph is the help line; the rest, folded to one paragraph, the description."""
    from bot.commands.shared import command

    def handler(args: argparse.Namespace, settings: object) -> int:
        """do the thing
        now

        First part of the description,
        wrapped.
        """
        return 0

    parser = argparse.ArgumentParser(prog="certdesk")
    sub = parser.add_subparsers(dest="command")
    child = command(sub, "thing", handler, epilog="the end")
    assert [(a.dest, a.help) for a in sub._choices_actions] == [("thing", "do the thing now")]
    assert child.description == "First part of the description, wrapped."
    assert child.epilog == "the end"
    assert parser.parse_args(["thing"]).handler is handler
