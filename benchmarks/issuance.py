"""Issuance throughput: `POST /api/v1/enroll/{token}` against a real `certdesk serve`.

The server runs on core 0 (`taskset`), the load on core 1 with 16 requests in flight; every
request redeems a distinct pending enrollment with a P-256 CSR made beforehand. Both database
columns (embedded SQLite, a real PostgreSQL from tests/support) come from the same run, beside
the ceiling: an in-process loop on one core that only parses and verifies each CSR and signs a
P-256 certificate with cryptography. `/healthz` is polled every 20 ms during the load.

    .venv/bin/python benchmarks/issuance.py [--requests 2000] [--in-flight 16]
        [--databases sqlite,postgresql]

Goals (issue 11): SQLite >= 1,000 certificates/s and >= 0.25 of the ceiling, p99 < 50 ms,
max < 250 ms; PostgreSQL >= 600/s, p99 < 50 ms; /healthz p99 < 50 ms under the load.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from _common import percentile
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from benchmarks._issuance_load import (
    LOAD_CORE,
    LoadResult,
    database_env,
    enroll_load,
    make_csrs,
    make_enrollments,
    pinned_server,
)
from common.time import utcnow
from tests.support import system
from tests.support.postgres import PostgresServer

GOALS = {"sqlite": (1000.0, 0.25, 0.050, 0.250), "postgresql": (600.0, 0.0, 0.050, None)}
HEALTH_P99 = 0.050


def ceiling(csrs: list[str], *, seconds: float = 3.0) -> float:
    """Certificates/s of parse + verify CSR + sign (P-256 CA key), in this process on one core."""
    os.sched_setaffinity(0, {LOAD_CORE})
    ca_key = ec.generate_private_key(ec.SECP256R1())
    issuer = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ceiling CA")])
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ceiling holder")])
    count = 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        csr = x509.load_pem_x509_csr(csrs[count % len(csrs)].encode())
        assert csr.is_signature_valid
        issued_at = utcnow()
        (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(csr.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(issued_at)
            .not_valid_after(issued_at + timedelta(days=365))
            .sign(ca_key, hashes.SHA256())
        )
        count += 1
    return count / (time.perf_counter() - started)


def run_column(name: str, database_url: str | None, requests: int, in_flight: int) -> LoadResult:
    with tempfile.TemporaryDirectory(prefix=f"certdesk-bench-{name}-") as data:
        env = database_env(Path(data), database_url)
        pending = make_enrollments(env, requests + 50)
        csrs = make_csrs(requests + 50)
        with pinned_server(env) as server:
            enroll_load(server.url, pending[:50], csrs[:50], in_flight=in_flight)  # warm-up
            return enroll_load(server.url, pending[50:], csrs[50:], in_flight=in_flight)


def report(name: str, result: LoadResult, ceiling_rate: float) -> None:
    rate_goal, ratio_goal, p99_goal, max_goal = GOALS[name]
    lat = result.latencies
    rate = result.rate()
    p99 = percentile(lat, 0.99)
    worst = max(lat)
    hp99 = percentile(result.health, 0.99) if result.health else float("nan")
    ratio = rate / ceiling_rate
    checks = [rate >= rate_goal, ratio >= ratio_goal, p99 < p99_goal, hp99 < HEALTH_P99]
    if max_goal is not None:
        checks.append(worst < max_goal)
    others = {k: v for k, v in result.statuses.items() if k != 201}
    print(
        f"{name:<11}{rate:>9.0f}{ratio:>8.3f}{percentile(lat, 0.5) * 1000:>8.1f}"
        f"{p99 * 1000:>8.1f}{worst * 1000:>8.1f}{hp99 * 1000:>11.1f}"
        f"  {'yes' if all(checks) else 'no':<4}{others or ''}"
    )
    print(
        f"{'  goal':<11}{rate_goal:>9.0f}{f'{ratio_goal:.2f}' if ratio_goal else '-':>8}{'':>8}"
        f"{p99_goal * 1000:>8.0f}{f'{max_goal * 1000:.0f}' if max_goal else '-':>8}"
        f"{HEALTH_P99 * 1000:>11.0f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="timed enrollments per column")
    parser.add_argument("--in-flight", type=int, default=16, help="requests in flight")
    parser.add_argument(
        "--databases", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql"
    )
    args = parser.parse_args()
    names = [n.strip() for n in args.databases.split(",") if n.strip()]
    results: dict[str, LoadResult] = {}
    postgres = PostgresServer.start(system.postgres_bin_dir()) if "postgresql" in names else None
    try:
        for name in names:
            url = postgres.create_database() if name == "postgresql" and postgres else None
            results[name] = run_column(name, url, args.requests, args.in_flight)
    finally:
        if postgres is not None:
            postgres.stop()
    ceiling_rate = ceiling(make_csrs(200))
    print(
        f"{args.requests} enrollments per column, {args.in_flight} in flight, server on core 0, "
        f"load on core 1, load average {os.getloadavg()[0]:.2f}"
    )
    print(f"ceiling (parse + verify CSR + sign P-256, one core): {ceiling_rate:.0f} certificates/s")
    print(
        f"{'database':<11}{'certs/s':>9}{'ratio':>8}{'p50 ms':>8}{'p99 ms':>8}{'max ms':>8}"
        f"{'health p99':>11}  met"
    )
    for name, result in results.items():
        report(name, result, ceiling_rate)
    return 0


if __name__ == "__main__":
    sys.exit(main())
