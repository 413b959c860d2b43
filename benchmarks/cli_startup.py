"""How fast each ``certdesk`` command starts: median wall time and peak memory of the process.

    .venv/bin/python benchmarks/cli_startup.py             # 5 runs of each command
    .venv/bin/python benchmarks/cli_startup.py --runs 9

Every command runs in a fresh process, as a user would run it, on a temporary data directory
the script prepares first (the CA, the database at the newest schema, the knowledge base's
fitted classifier in its cache, and a certificate file to inspect), from a temporary working
directory with no ``.env`` and with certdesk's and Slack's environment variables cleared. Peak
memory is the child's maximum resident set size (``wait4``). Two floors are measured in the
same run: the interpreter alone (``python -c pass``) and the interpreter plus the X.509
library every certificate command needs (``python -c "import cryptography.x509"``); on a
loaded machine compare the commands with them rather than with the targets alone. The CPU
time (user + system, median) is printed too: it varies less with the load than wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import _common  # noqa: F401 (puts the project root on sys.path: tests.support)

QUESTION = "How do I renew my certificate?"
# A question the words alone do not answer: the knowledge base takes its second look (the
# sentence embedding's model loads, from the tables the warm-up run kept uncompressed).
SECOND_LOOK_QUESTION = "下个证书老失败，烦死了"
HELP_TARGET = (0.3, 60.0)  # seconds, MB


@dataclass(frozen=True, slots=True)
class Case:
    name: str
    argv: tuple[str, ...]
    target_seconds: float | None = None
    target_mb: float | None = None


@dataclass(frozen=True, slots=True)
class Measured:
    seconds: float
    cpu_seconds: float
    mb: float


def certdesk() -> tuple[str, ...]:
    """The installed console script beside this interpreter, else ``python -m bot.cli``."""
    script = Path(sys.executable).parent / "certdesk"
    return (str(script),) if script.exists() else (sys.executable, "-m", "bot.cli")


def help_commands() -> list[tuple[str, ...]]:
    """``--help``, and ``--help`` of every command and of every action under a command."""
    from bot.cli import build_parser

    commands: list[tuple[str, ...]] = [()]
    for name, parser in _commands_of(build_parser()).items():
        commands.append((name,))
        commands.extend((name, action) for action in _commands_of(parser))
    return commands


def _commands_of(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def run_once(argv: Sequence[str], env: dict[str, str], cwd: Path) -> Measured:
    start = time.perf_counter()
    child = subprocess.Popen(
        argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    stderr = child.stderr.read().decode(errors="replace") if child.stderr else ""
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {child.returncode}:\n{stderr}")
    return Measured(
        seconds=seconds,
        cpu_seconds=usage.ru_utime + usage.ru_stime,
        mb=usage.ru_maxrss / 1024,  # KiB on Linux
    )


def measure(argv: Sequence[str], env: dict[str, str], cwd: Path, runs: int) -> Measured:
    results = [run_once(argv, env, cwd) for _ in range(runs)]
    return Measured(
        seconds=statistics.median(r.seconds for r in results),
        cpu_seconds=statistics.median(r.cpu_seconds for r in results),
        mb=max(r.mb for r in results),
    )


def write_certificate(path: Path) -> None:
    from cryptography.hazmat.primitives import serialization

    from tests.support.pki import self_signed

    _, certificate = self_signed(
        "Benchmark Holder", ous=("Branch 01",), o="Acme Bank", valid_for=timedelta(days=365)
    )
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))


def clean_environment(data_dir: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("CERTDESK_", "SLACK_")) and key != "PORT"
    }
    env["CERTDESK_DATA_DIR"] = str(data_dir)
    return env


def prepare(directory: Path) -> None:
    """In a child process (see :func:`main`): the certificate file; the help commands."""
    write_certificate(directory / "holder.pem")
    (directory / "help.json").write_text(json.dumps(help_commands()))


def cases(tool: tuple[str, ...], root: Path) -> list[Case]:
    python = sys.executable
    found: list[Case] = [
        Case("floor: python -c pass", (python, "-c", "pass")),
        Case("floor: import cryptography.x509", (python, "-c", "import cryptography.x509")),
    ]
    certificate = root / "holder.pem"
    for command in json.loads((root / "help.json").read_text()):
        found.append(
            Case(
                " ".join(("certdesk", *command, "--help")),
                (*tool, *command, "--help"),
                *HELP_TARGET,
            )
        )
    found += [
        Case("certdesk ra issue --cn X --json", (*tool, "ra", "issue", "--cn", "X", "--json"), 1.0),
        Case("certdesk inspect FILE", (*tool, "inspect", str(certificate)), 0.5),
        Case("certdesk ask QUESTION (warm)", (*tool, "ask", QUESTION), 1.0),
        Case(
            "certdesk ask QUESTION (warm, second look)", (*tool, "ask", SECOND_LOOK_QUESTION), 1.0
        ),
    ]
    return found


def report(rows: list[tuple[Case, Measured]], floors: tuple[Measured, Measured]) -> str:
    width = max(len(case.name) for case, _ in rows)
    lines = [
        f"{'command':<{width}}  {'median s':>8}  {'target s':>8}  {'over floor s':>12}  "
        f"{'cpu s':>5}  {'peak MB':>7}  {'target MB':>9}  met",
    ]
    base = floors[1].seconds  # the interpreter and cryptography.x509
    for case, result in rows:
        floor = case.name.startswith("floor:")
        met = (case.target_seconds is None or result.seconds < case.target_seconds) and (
            case.target_mb is None or result.mb < case.target_mb
        )
        lines.append(
            f"{case.name:<{width}}  {result.seconds:>8.3f}  "
            f"{_figure(case.target_seconds, '.1f'):>8}  "
            f"{'' if floor else f'{result.seconds - base:+.3f}':>12}  "
            f"{result.cpu_seconds:>5.2f}  {result.mb:>7.1f}  {_figure(case.target_mb, '.0f'):>9}  "
            f"{'' if floor else ('yes' if met else 'NO')}"
        )
    return "\n".join(lines)


def _figure(value: float | None, spec: str) -> str:
    return "" if value is None else format(value, spec)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="runs of each command (median)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead")
    parser.add_argument("--prepare", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.prepare:
        prepare(args.prepare)
        return 0
    tool = certdesk()
    with tempfile.TemporaryDirectory(prefix="certdesk-cli-startup-") as scratch:
        root = Path(scratch)
        data_dir, cwd = root / "data", root / "cwd"
        cwd.mkdir()
        env = clean_environment(data_dir)
        # Prepared in a child: this process stays as small as the interpreter, for a child's
        # peak memory counts what it had before it started certdesk (fork, then exec).
        subprocess.run((sys.executable, __file__, "--prepare", str(root)), check=True)
        # The existing data directory: CA, secret key, schema at head, the fitted classifier.
        # `ra issue` creates none of it (it names the missing directory instead): `init` does.
        run_once((*tool, "init"), env, cwd)
        run_once((*tool, "ra", "issue", "--cn", "Prepared", "--json"), env, cwd)
        run_once((*tool, "ask", QUESTION), env, cwd)
        run_once((*tool, "ask", SECOND_LOOK_QUESTION), env, cwd)
        rows = [(case, measure(case.argv, env, cwd, args.runs)) for case in cases(tool, root)]
    floors = (rows[0][1], rows[1][1])
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "command": case.name,
                        "median_seconds": round(result.seconds, 4),
                        "median_cpu_seconds": round(result.cpu_seconds, 4),
                        "peak_mb": round(result.mb, 1),
                        "target_seconds": case.target_seconds,
                        "target_mb": case.target_mb,
                    }
                    for case, result in rows
                ]
            )
        )
    else:
        print(f"median of {args.runs} runs, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")
        print(report(rows, floors))
    return 0


if __name__ == "__main__":
    sys.exit(main())
