"""Resident size of `certdesk serve`: idle, and after 10,000 issuances.

A real `certdesk serve` on core 0 (embedded SQLite), 10,000 pending enrollments made before it
starts; VmRSS is read from /proc after start-up (idle, after a first request warmed the API),
then after all 10,000 redemptions (16 in flight from core 1), and again after 5 s of rest.
The floor beside it, measured in the same run: a bare Python that imports the server's modules
(`bot.app`) and nothing else.

    .venv/bin/python benchmarks/memory.py [--issuances 10000]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT

from benchmarks._issuance_load import (
    database_env,
    enroll_load,
    make_csrs,
    make_enrollments,
    pinned_server,
    resident_kib,
)


def import_floor_kib() -> int:
    """VmRSS of a Python that has imported the server's modules, nothing more."""
    script = (
        "import bot.app, sys\n"
        "print(next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmRSS')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return int(done.stdout.strip())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--issuances", type=int, default=10_000, help="redemptions to run")
    parser.add_argument("--in-flight", type=int, default=16, help="requests in flight")
    args = parser.parse_args()
    floor = import_floor_kib()
    with tempfile.TemporaryDirectory(prefix="certdesk-bench-memory-") as data:
        env = database_env(Path(data), None)
        pending = make_enrollments(env, args.issuances + 1)
        csrs = make_csrs(args.issuances + 1)
        with pinned_server(env) as server:
            pid = server.process.pid
            enroll_load(server.url, pending[:1], csrs[:1], in_flight=1, watch_health=False)
            idle = resident_kib(pid)
            result = enroll_load(server.url, pending[1:], csrs[1:], in_flight=args.in_flight)
            loaded = resident_kib(pid)
            time.sleep(5)
            rested = resident_kib(pid)
    print(f"{'certdesk serve (embedded SQLite)':<40}{'VmRSS MB':>10}")
    print(f"{'  floor: python + import bot.app':<40}{floor / 1024:>10.1f}")
    print(f"{'  idle, after one issuance':<40}{idle / 1024:>10.1f}")
    print(f"{f'  after {result.ok} issuances':<40}{loaded / 1024:>10.1f}")
    print(f"{'  5 s later':<40}{rested / 1024:>10.1f}")
    print(f"growth per 1,000 issuances: {(loaded - idle) / 1024 / max(1, result.ok) * 1000:.2f} MB")
    others = {k: v for k, v in result.statuses.items() if k != 201}
    if others:
        print(f"non-201 answers: {others}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
