"""How fast certdesk acknowledges Slack under load (Slack gives up after 3 s).

Starts a fake Slack Web API on 127.0.0.1 (whose chat.postMessage answers slowly, as Slack may
under load) and a real `certdesk serve`, then sends bursts of signed requests: DM questions
(knowledge answer after the ack), `/cert status` and `/ra issue` (an enrollment written to the
database after the ack). Prints ack latency percentiles and how many acks took over 3 s.

    .venv/bin/python benchmarks/slack_ack_benchmark.py [--requests 300] [--concurrency 50]

Everything stays on the loopback interface; the loop is bounded by --requests.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.fake_slack import (  # noqa: E402
    BOT_TOKEN,
    SIGNING_SECRET,
    FakeSlack,
    SlackSender,
    dm,
)
from tests.support.processes import base_env, live_server  # noqa: E402

STAFF = "UBENCHSTAFF"


async def one(sender: SlackSender, index: int) -> tuple[str, int, float]:
    kind = ("dm", "status", "issue")[index % 3]
    user = f"UBENCH{index:05d}"
    started = time.perf_counter()
    if kind == "dm":
        status, _ = await sender.event(dm(user, "how do I find the CN of my certificate"))
    elif kind == "status":
        status, _ = await sender.command("/cert", "status", user=user)
    else:
        text = f'issue <@{user}> cn="Bench Holder {index}" ou="Branch 1" o="Acme Bank"'
        status, _ = await sender.command("/ra", text, user=STAFF)
    return kind, status, time.perf_counter() - started


async def run(requests: int, concurrency: int, sender: SlackSender) -> list[tuple[str, int, float]]:
    gate = asyncio.Semaphore(concurrency)

    async def limited(index: int) -> tuple[str, int, float]:
        async with gate:
            return await one(sender, index)

    return await asyncio.gather(*(limited(i) for i in range(requests)))


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument(
        "--slow-post",
        type=float,
        default=1.0,
        help="seconds the fake chat.postMessage takes (default 1.0)",
    )
    args = parser.parse_args()

    fake = FakeSlack()
    fake.add_user(STAFF)
    for index in range(args.requests):
        fake.add_user(f"UBENCH{index:05d}")
    fake.slow("chat.postMessage", args.slow_post, times=args.requests * 2)
    with tempfile.TemporaryDirectory() as data, fake.running():
        env = base_env(
            Path(data),
            {
                "SLACK_BOT_TOKEN": BOT_TOKEN,
                "SLACK_SIGNING_SECRET": SIGNING_SECRET,
                "SLACK_API_URL": fake.api_url,
                "CERTDESK_RA_STAFF": STAFF,
                "CERTDESK_LOG_LEVEL": "WARNING",
                "CERTDESK_SERVE_REMINDERS": "false",
            },
        )
        with live_server(env) as server:
            sender = SlackSender(server.url, fake)
            asyncio.run(run(5, 5, sender))  # warm up: knowledge index, connections
            started = time.perf_counter()
            results = asyncio.run(run(args.requests, args.concurrency, sender))
            elapsed = time.perf_counter() - started

    print(
        f"{args.requests} signed requests, {args.concurrency} at a time, "
        f"chat.postMessage taking {args.slow_post:.1f} s, in {elapsed:.1f} s"
    )
    print(
        f"{'kind':<8}{'n':>5}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}{'> 3 s':>7}{'non-200':>9}"
    )
    for kind in ("dm", "status", "issue", "all"):
        rows = [r for r in results if kind in ("all", r[0])]
        times = [r[2] for r in rows]
        print(
            f"{kind:<8}{len(rows):>5}{statistics.median(times) * 1000:>10.1f}"
            f"{percentile(times, 0.99) * 1000:>10.1f}{max(times) * 1000:>10.1f}"
            f"{sum(t > 3 for t in times):>7}{sum(r[1] != 200 for r in rows):>9}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
