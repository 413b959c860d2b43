"""benchmarks/hostile_inputs.py runs to the end: it draws the fuzz tests' damaged inputs for
each parser and prints a row for each (the figures themselves are docs/BENCHMARKS.md's)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_hostile_inputs_benchmark_times_every_parser() -> None:
    script = str(ROOT / "benchmarks" / "hostile_inputs.py")
    core = str(min(os.sched_getaffinity(0)))
    result = subprocess.run(
        [sys.executable, script, "--examples", "20", "--core", core],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode in {0, 1}, result.stderr  # 1: a goal missed on this machine
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines()[3:6]}
    assert set(rows) == {"CSR", "EST", "inspector"}, result.stdout
    assert all(row[-1] in {"yes", "no"} and int(row[-8]) == 20 for row in rows.values())
