"""Reminders at scale: the selection with 10^6 certificates, and a 10,000-reminder pass
against a fake Slack that answers 429 past a per-minute limit.

1. Selection. 10^6 certificates (expiry spread from 60 days ago to a year ahead, 90 % active,
   as in reminders_benchmark.py) in a temporary SQLite. Median of 5 of the pass's selection
   of the due reminders (``run_pass(dry_run=True)``: scheduler/run.py:due_candidates, the rows
   made into the policy's facts, scheduler/policy.py:due_reminders), beside the whole window
   of candidates fetched (scheduler/run.py:candidates: what the pass loaded before), same run,
   in two states: the first pass (no reminder recorded yet: every candidate is due) and the
   steady state (yesterday's pass recorded its reminders as sent). Then the window query
   again after the index ``ix_certificate_status_not_after`` is dropped. Goal: < 1 s.
2. Pass under 429s. 10,000 active certificates each due one reminder, the real SlackNotifier
   (slack-sdk, its 429 retry handler) against tests/support/fake_slack.py with
   ``rate_limit("chat.postMessage", LIMIT, window=WINDOW)``. Slack's limit is per minute; the
   minute is scaled down to WINDOW seconds (default 10 s with LIMIT 1,000: 100/s, below the
   pass's own pace) so the run takes about 100 s. Goal: every reminder sent exactly once, and
   the pass within 10 % of the time the limit allows (10,000 / LIMIT windows). The pass runs
   as `certdesk reminders run-once` on core 0, the fake on core 1; its unthrottled rate (same
   run, 1,000 reminders, no limit) shows that the limit, not certdesk, sets the pace.

    .venv/bin/python benchmarks/reminders_scale.py [--certificates 1000000]
        [--reminders 10000] [--limit 1700] [--window 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import _common  # noqa: F401 (puts the project root on sys.path)
import sqlalchemy as sa

from benchmarks.reminders_benchmark import certificate_row, insert_certificates, seed
from bot.database import upgrade_async
from common.time import utcnow
from enrollment.db import create_engine
from scheduler.models import ReminderSent
from scheduler.policy import Reminder, ReminderPolicy
from scheduler.run import ReminderRunner, candidates
from tests.support.fake_slack import BOT_TOKEN, SIGNING_SECRET, FakeSlack
from tests.support.processes import base_env

SELECTION_GOAL = 1.0
PASS_SLACK = 1.10


class _Silent:
    channel = "none"

    async def notify(self, reminder: Reminder) -> None:
        raise AssertionError("a dry run delivers nothing")


async def time_window(url: str) -> tuple[float, float, int]:
    """Median seconds of the whole window of candidates fetched, and of the same search
    counted in the database (no rows transferred), and the number of rows."""
    policy = ReminderPolicy()
    engine = create_engine(url)
    try:
        fetched, counted = [], []
        rows = 0
        for _ in range(5):
            now = utcnow()
            query = candidates(now - policy.expired_notice_window, now + policy.horizon)
            count = sa.select(sa.func.count()).select_from(query.subquery())
            async with engine.connect() as connection:
                started = time.perf_counter()
                rows = len((await connection.execute(query)).all())
                fetched.append(time.perf_counter() - started)
                started = time.perf_counter()
                await connection.execute(count)
                counted.append(time.perf_counter() - started)
        return statistics.median(fetched), statistics.median(counted), rows
    finally:
        await engine.dispose()


async def time_due(url: str) -> tuple[float, int, int]:
    """Median seconds of the pass's selection of the due reminders (a dry run), the rows
    the selection returned, and the number due."""
    engine = create_engine(url)
    runner = ReminderRunner(engine=engine, notifier=_Silent())
    try:
        seconds = []
        report = None
        for _ in range(5):
            started = time.perf_counter()
            report = await runner.run_pass(dry_run=True)
            seconds.append(time.perf_counter() - started)
        assert report is not None
        return statistics.median(seconds), report.candidates, len(report.results)
    finally:
        await engine.dispose()


async def record_yesterdays_pass(url: str) -> int:
    """Record as sent every reminder a pass would have sent a day ago (the steady state)."""
    engine = create_engine(url)
    runner = ReminderRunner(engine=engine, notifier=_Silent())
    try:
        report = await runner.run_pass(as_of=utcnow() - timedelta(days=1), dry_run=True)
        now = utcnow()
        rows = [
            {
                "certificate_id": r.reminder.certificate.certificate_id,
                "threshold_days": r.reminder.threshold_days,
                "channel": "slack",
                "outcome": "sent",
                "attempts": 1,
                "claimed_by": "benchmark",
                "claimed_at": now - timedelta(days=1),
                "updated_at": now - timedelta(days=1),
                "sent_at": now - timedelta(days=1),
            }
            for r in report.results
        ]
        async with engine.begin() as connection:
            await connection.execute(sa.insert(ReminderSent), rows)
        return len(rows)
    finally:
        await engine.dispose()


async def drop_index(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(sa.text("DROP INDEX ix_certificate_status_not_after"))
    finally:
        await engine.dispose()


def _row(state: str, window: float, rows: int, due: float, returned: int, count: int) -> str:
    met = "yes" if due < SELECTION_GOAL else "no"
    return (
        f"  {state:<22}{window:>10.3f}{rows:>8}{due:>10.3f}{returned:>9}{count:>8}"
        f"  < {SELECTION_GOAL:g} s: {met}"
    )


async def selection(count: int) -> None:
    with tempfile.TemporaryDirectory(prefix="certdesk-bench-") as directory:
        url = f"sqlite+aiosqlite:///{Path(directory) / 'scale.db'}"
        started = time.perf_counter()
        await upgrade_async(url)
        await seed(url, count, random.Random(1))  # noqa: S311 - test data, not secrets
        print(f"seeded {count} certificates in {time.perf_counter() - started:.0f} s")
        first_window, _, rows = await time_window(url)
        first_due, first_returned, first_count = await time_due(url)
        recorded = await record_yesterdays_pass(url)
        print(f"recorded yesterday's pass: {recorded} reminders sent")
        steady_window, steady_counted, steady_rows = await time_window(url)
        steady_due, steady_returned, steady_count = await time_due(url)
        await drop_index(url)
        unindexed, unindexed_counted, _ = await time_window(url)
    print(
        f"{'selection (median of 5)':<24}{'window s':>10}{'rows':>8}{'due sel s':>10}"
        f"{'returned':>9}{'due':>8}  goal"
    )
    print(_row("first pass", first_window, rows, first_due, first_returned, first_count))
    print(
        _row("steady state", steady_window, steady_rows, steady_due, steady_returned, steady_count)
    )
    print(
        f"  window counted in SQLite (no rows out): {steady_counted:.3f} s; "
        f"index dropped: {unindexed:.3f} s fetched, {unindexed_counted:.3f} s counted"
    )


async def seed_due(url: str, count: int, *, start: int) -> None:
    """``count`` active certificates expiring in 5-6 days (one reminder due each, 7 days)."""
    now = utcnow()
    rng = random.Random(start)  # noqa: S311 - test data, not secrets
    rows = [
        certificate_row(
            number, not_after=now + timedelta(days=5 + rng.random()), status="active", now=now
        )
        for number in range(start, start + count)
    ]
    await insert_certificates(url, [rows])


def one_pass(data_dir: Path, fake: FakeSlack) -> tuple[float, int, int]:
    """`certdesk reminders run-once --json` on core 0 (the real SlackNotifier; the fake Slack
    answers from this process on core 1); (seconds of the pass, due, sent)."""
    env = base_env(
        data_dir,
        {
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": fake.api_url,
            "CERTDESK_LOG_LEVEL": "WARNING",
        },
    )
    done = subprocess.run(
        ["taskset", "-c", "0", sys.executable, "-m", "bot.cli", "reminders", "run-once", "--json"],
        env=env,
        cwd=data_dir,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode not in (0, 1):
        raise RuntimeError(f"reminders run-once failed: {done.stderr[-2000:]}")
    report = json.loads(done.stdout.strip().splitlines()[-1])
    return float(report["seconds"]), int(report["due"]), int(report["sent"])


async def pass_under_limit(reminders: int, limit: int, window: float) -> None:
    os.sched_setaffinity(0, {1})  # the fake Slack; the pass runs on core 0
    with (
        tempfile.TemporaryDirectory(prefix="certdesk-bench-") as directory,
        FakeSlack().running() as fake,
    ):
        data_dir = Path(directory)
        url = f"sqlite+aiosqlite:///{data_dir / 'certdesk.db'}"
        await upgrade_async(url)
        await seed_due(url, 1000, start=0)
        free_seconds, _, free_sent = one_pass(data_dir, fake)
        fake.reset()
        await seed_due(url, reminders, start=1000)
        fake.rate_limit("chat.postMessage", limit, window=window)
        seconds, due, sent = one_pass(data_dir, fake)
        posted = Counter(c.params.get("channel") for c in fake.calls("chat.postMessage"))
        refused = len(fake.calls("chat.postMessage", ok=False))
    allowed = reminders / limit * window
    once = sum(1 for n in posted.values() if n == 1) == reminders and len(posted) == reminders
    ratio = seconds / allowed
    print(
        f"unthrottled pass (same run): {free_sent} reminders in {free_seconds:.1f} s = "
        f"{free_sent / free_seconds:.0f}/s"
    )
    print(
        f"limit {limit} chat.postMessage per {window:g} s window (Slack's minute scaled to "
        f"{window:g} s): {reminders / limit:.2f} windows allowed = {allowed:.1f} s"
    )
    print(
        f"{'pass':<10}{'due':>7}{'sent':>7}{'posted once':>13}{'429s':>7}{'s':>8}{'ratio':>7}  met"
    )
    met = once and sent == reminders and ratio <= PASS_SLACK
    print(
        f"{'':<10}{due:>7}{sent:>7}{'yes' if once else 'no':>13}{refused:>7}{seconds:>8.1f}"
        f"{ratio:>7.2f}  {'yes' if met else 'no'}  (goal: all once, ratio <= {PASS_SLACK})"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--certificates", type=int, default=1_000_000, help="for the selection")
    parser.add_argument("--reminders", type=int, default=10_000, help="due in the pass")
    parser.add_argument("--limit", type=int, default=1000, help="chat.postMessage per window")
    parser.add_argument("--window", type=float, default=10.0, help="the scaled minute, seconds")
    parser.add_argument("--skip-selection", action="store_true", help="only the 429 pass")
    parser.add_argument("--skip-pass", action="store_true", help="only the selection")
    args = parser.parse_args()
    if not args.skip_selection:
        asyncio.run(selection(args.certificates))
    if not args.skip_pass:
        asyncio.run(pass_under_limit(args.reminders, args.limit, args.window))
    return 0


if __name__ == "__main__":
    sys.exit(main())
