"""How long damaged inputs hold certdesk's parsers, beside the same parser on a valid input.

The fuzz tests (tests/fuzz) assert what comes out of a damaged CSR, EST body or certificate
file, never how long it took; this measures the time. Each parser gets the fuzz tests' own
damaged inputs (the same Hypothesis strategies and seeds, derandomized, so every run draws the
same inputs), timed one call each:

1. the CSR check (``enrollment.ca.csr.validated_public_key``), damaged DER and PEM CSRs;
2. an EST body as ``simpleenroll`` reads it (``decode_pkcs10``, then the CSR check);
3. the certificate inspector (``faq.inspector.inspect_certificates``), damaged PEM, DER, PKCS#7
   and PKCS#12 files.

The ceiling of each row is its valid inputs' median time in the same run. The goal: no damaged
input holds the caller for 50 ms (the slowest one is timed again, fastest of three, so a pause
of the machine is not a finding). The process pins itself to one core.

    .venv/bin/python benchmarks/hostile_inputs.py [--examples 2000] [--core 1]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from _common import percentile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from enrollment.ca.csr import validated_public_key
from enrollment.protocols.est import decode_pkcs10
from faq.inspector import inspect_certificates
from tests.fuzz import test_csr_fuzz, test_est_fuzz, test_inspector_fuzz
from tests.fuzz.mutations import damaged

GOAL_MS = 50.0


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    call: Callable[[bytes], object]
    valid: Sequence[bytes]
    inputs: st.SearchStrategy[bytes]


def targets() -> list[Target]:
    csrs = test_csr_fuzz.DER_CSRS + test_csr_fuzz.PEM_CSRS
    est_bodies = (test_est_fuzz.BASE64, test_est_fuzz.PEM, test_est_fuzz.DER)
    files = test_inspector_fuzz.SAMPLES
    now = test_inspector_fuzz.NOW
    return [
        Target("CSR check", validated_public_key, csrs, damaged(*csrs)),
        Target(
            "EST body",
            lambda body: validated_public_key(decode_pkcs10(body)),
            est_bodies,
            damaged(*est_bodies),
        ),
        Target(
            "inspector", lambda data: inspect_certificates(data, now=now), files, damaged(*files)
        ),
    ]


def timed(call: Callable[[bytes], object], data: bytes) -> float:
    """Seconds one call took; what it raised does not matter here (the fuzz tests check it)."""
    started = time.perf_counter()
    with contextlib.suppress(Exception):
        call(data)
    return time.perf_counter() - started


def damaged_times(target: Target, examples: int) -> list[tuple[float, bytes]]:
    """Each damaged input Hypothesis draws for ``target`` (``examples`` of them), and its time."""
    times: list[tuple[float, bytes]] = []

    @settings(
        max_examples=examples,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(target.inputs)
    def draw(data: bytes) -> None:
        times.append((timed(target.call, data), data))

    draw()
    return times


def report(target: Target, examples: int) -> bool:
    valid = statistics.median(timed(target.call, data) for data in target.valid for _ in range(20))
    times = damaged_times(target, examples)
    seconds = [t for t, _ in times]
    _, slowest = max(times, key=lambda pair: pair[0])
    again = min(timed(target.call, slowest) for _ in range(3))
    met = again * 1000 < GOAL_MS
    figures = (valid, percentile(seconds, 0.5), percentile(seconds, 0.99), max(seconds), again)
    milliseconds = "".join(f"{figure * 1000:>9.3f}" for figure in figures)
    verdict = "yes" if met else "no"
    print(f"{target.name:<11}{len(times):>7}{milliseconds}{len(slowest):>8}  {verdict}")
    return met


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=2000, help="damaged inputs per parser")
    parser.add_argument("--core", type=int, default=1, help="the CPU this process runs on")
    args = parser.parse_args()
    os.sched_setaffinity(0, {args.core})
    # cryptography warns of each damaged PKCS#7 it reads as BER; the fuzz tests look at that.
    warnings.simplefilter("ignore", UserWarning)
    print(f"damaged inputs per parser: {args.examples}; goal: the slowest under {GOAL_MS:g} ms")
    print(
        f"{'parser':<11}{'inputs':>7}{'valid':>9}{'p50':>9}{'p99':>9}{'max':>9}"
        f"{'again':>9}{'bytes':>8}  met"
    )
    print(f"{'':<11}{'':>7}{'ms':>9}{'ms':>9}{'ms':>9}{'ms':>9}{'ms':>9}")
    results = [report(target, args.examples) for target in targets()]
    print(
        "valid: median of the valid inputs (the ceiling); again: the slowest damaged input "
        "timed again, fastest of 3; bytes: its size"
    )
    return 0 if all(results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
