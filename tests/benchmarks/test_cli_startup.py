"""benchmarks/cli_startup.py runs to the end: it prepares its data directory and measures every
command (one run each; the figures themselves are the README's, not asserted here)."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from bot.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]


def test_cli_startup_benchmark_measures_every_command() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "cli_startup.py"), "--runs", "1", "--json"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    rows = {row["command"]: row for row in json.loads(result.stdout)}
    assert {"certdesk --help", "certdesk ra issue --cn X --json", "certdesk inspect FILE"} <= set(
        rows
    )
    assert any(command.startswith("certdesk ask") for command in rows)
    subparsers = next(
        a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)
    )
    assert {f"certdesk {name} --help" for name in subparsers.choices} <= set(rows)
    assert all(row["median_seconds"] > 0 and row["peak_mb"] > 0 for row in rows.values())
