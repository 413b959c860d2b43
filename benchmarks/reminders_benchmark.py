"""How long a reminder pass takes over many certificates.

    .venv/bin/python benchmarks/reminders_benchmark.py                       # 50k, temporary SQLite
    .venv/bin/python benchmarks/reminders_benchmark.py --certificates 200000
    .venv/bin/python benchmarks/reminders_benchmark.py --database-url postgresql+asyncpg://…/empty_db

The certificates' expiry dates spread evenly from 60 days ago to a year ahead; 90 % are active,
the rest revoked or superseded. A notifier that does nothing stands in for Slack, so the figures
are the scheduler's own cost: the candidate query (index on ``certificate.not_after``), the policy,
and two short transactions per reminder (claim, record). Three passes are timed: a dry run
(query + policy only), the first real pass (every due reminder claimed and recorded), and a
steady-state pass right after it (nothing new is due). A PostgreSQL database must be empty: the
script migrates it and writes rows into it.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bot.database import upgrade_async
from common.time import utcnow
from enrollment.db import create_engine
from enrollment.models import Certificate
from scheduler.policy import Reminder
from scheduler.run import PassReport, ReminderRunner, Result, RunConfig

BATCH = 5_000
Row = dict[str, Any]


class NullNotifier:
    channel = "benchmark"

    async def notify(self, reminder: Reminder) -> None:
        return None


def certificate_row(number: int, *, not_after: datetime, status: str, now: datetime) -> Row:
    """The ``certificate`` row of benchmark holder ``number`` (no PEM: nothing reads it)."""
    serial = f"{number:032x}"
    return {
        "serial": serial,
        "subject": f"CN=Holder {number}",
        "issuer": "CN=certdesk Benchmark CA",
        "subject_cn": f"Holder {number}",
        "subject_ous": [],
        "not_before": not_after - timedelta(days=365),
        "not_after": not_after,
        "fingerprint_sha256": serial.rjust(64, "0"),
        "pem": "-",
        "key_type": "ec-p256",
        "profile": "client",
        "delivery": "csr",
        "owner_slack_user": f"U{number:08d}",
        "status": status,
        "superseded_by": "0" if status == "superseded" else None,
        "created_at": now,
    }


async def insert_certificates(url: str, batches: Iterable[list[Row]]) -> None:
    """Each batch of certificate rows in a transaction of its own."""
    engine = create_engine(url)
    try:
        for rows in batches:
            async with engine.begin() as connection:
                await connection.execute(sa.insert(Certificate), rows)
    finally:
        await engine.dispose()


async def seed(url: str, count: int, rng: random.Random) -> None:
    now = utcnow()

    def batch(start: int) -> list[Row]:
        rows = []
        for number in range(start, min(start + BATCH, count)):
            not_after = now + timedelta(days=rng.uniform(-60, 365))
            status = rng.choices(["active", "revoked", "superseded"], [90, 5, 5])[0]
            rows.append(certificate_row(number, not_after=not_after, status=status, now=now))
        return rows

    await insert_certificates(url, (batch(start) for start in range(0, count, BATCH)))


def describe(name: str, report: PassReport) -> str:
    return (
        f"{name:<22} {report.seconds:8.3f} s   candidates {report.candidates:>7}   "
        f"due {len(report.results):>6}   sent {report.count(Result.SENT):>6}"
    )


async def benchmark(url: str, count: int, concurrency: int, seed_value: int) -> None:
    started = time.perf_counter()
    await upgrade_async(url)
    await seed(url, count, random.Random(seed_value))  # noqa: S311 - test data, not secrets
    print(f"database   {url.split('@')[-1]}")
    print(f"seeded     {count} certificates in {time.perf_counter() - started:.1f} s")
    engine = create_engine(url)
    try:
        runner = ReminderRunner(
            engine=engine, notifier=NullNotifier(), config=RunConfig(concurrency=concurrency)
        )
        dry = await runner.run_pass(dry_run=True)
        first = await runner.run_pass()
        steady = await runner.run_pass()
    finally:
        await engine.dispose()
    print(describe("dry run", dry))
    print(describe("first pass", first))
    print(describe("steady-state pass", steady))
    if first.results:
        per = first.seconds / len(first.results) * 1000
        print(f"per claimed reminder   {per:8.3f} ms (claim + deliver + record)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--certificates", type=int, default=50_000)
    parser.add_argument("--database-url", help="an empty database (default: temporary SQLite)")
    parser.add_argument("--concurrency", type=int, default=RunConfig().concurrency)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if args.database_url:
        asyncio.run(benchmark(args.database_url, args.certificates, args.concurrency, args.seed))
        return 0
    with tempfile.TemporaryDirectory(prefix="certdesk-bench-") as directory:
        url = f"sqlite+aiosqlite:///{Path(directory) / 'bench.db'}"
        asyncio.run(benchmark(url, args.certificates, args.concurrency, args.seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
