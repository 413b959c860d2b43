"""What every benchmark starts with: the project on ``sys.path``, pinning to a core, percentiles.

A benchmark runs as ``.venv/bin/python benchmarks/NAME.py``, so this folder is first on
``sys.path`` and ``from _common import …`` finds this module before anything else of the
project. Importing it puts the project root on ``sys.path``, so the imports after it find
``benchmarks.*`` and ``tests.support.*`` (and this checkout's ``bot``, ``enrollment`` …).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def pin(pid: int, core: int) -> None:
    """Pin every thread of ``pid`` (and the threads it starts later) to ``core`` (taskset);
    exit with taskset's own message if it cannot."""
    pinned = subprocess.run(
        ["taskset", "-a", "-p", "-c", str(core), str(pid)],
        capture_output=True,
        text=True,
        check=False,
    )
    if pinned.returncode != 0:
        raise SystemExit(f"cannot pin pid {pid} to core {core}: {pinned.stderr.strip()}")


def percentile(values: list[float], fraction: float) -> float:
    """The value below which ``fraction`` of ``values`` lie (nearest rank, no interpolation)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]
