"""How fast certdesk acknowledges Slack events, beside a bare slack-bolt app in the same run.

Signed ``app_mention`` events, each with its own event_id, are sent by wrk (pinned to core 1,
50 connections) to a real `certdesk serve` (pinned to core 0) with a fake Slack Web API, and
then to a bare slack-bolt AsyncApp with a no-op listener (``benchmarks/slack/bare_bolt.py``,
also on core 0). certdesk stores every event in its inbox before the 200; the benchmark then
waits (at most 60 s) until every acknowledged event has its reply in the fake Slack, and counts
replies posted more than once.

    .venv/bin/python benchmarks/slack_ack_benchmark.py [--seconds 10] [--connections 50] [--rsa]

With ``--rsa``, two clients (on core 1) redeem enrollment links for server-made RSA-2048
PKCS#12 files (``POST /api/v1/enroll/{token}/pkcs12``) without pause during certdesk's run, and
a third samples ``GET /healthz``; its p99 is printed too.

Needs wrk (``apt-get install wrk``). Everything stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from _common import ROOT, percentile

from benchmarks._slack_questions import distinct_questions
from tests.faults.client import call, create_enrollments
from tests.support.fake_slack import (
    BOT_TOKEN,
    SIGNING_SECRET,
    FakeSlack,
    event_callback,
    signature,
)
from tests.support.postgres import free_port
from tests.support.processes import base_env, live_server

LUA = ROOT / "benchmarks" / "slack" / "signed.lua"
BARE = ROOT / "benchmarks" / "slack" / "bare_bolt.py"
USERS = [f"UBENCH{index:03d}" for index in range(50)]
GOALS = "goals: >= 3,000 events/s and >= 0.7 of bare bolt; ack p99 < 20 ms"


def fake_slack() -> FakeSlack:
    """The fake Slack Web API, knowing the benchmark's users."""
    fake = FakeSlack()
    for user in USERS:
        fake.add_user(user)
    return fake


def server_env(data: Path, fake: FakeSlack) -> dict[str, str]:
    """The environment of a ``certdesk serve`` on ``data`` that talks to ``fake``."""
    return base_env(
        data,
        {
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": fake.api_url,
            "CERTDESK_LOG_LEVEL": "WARNING",
            "CERTDESK_SERVE_REMINDERS": "false",
        },
    )


def signed_events(path: Path, count: int, run: str) -> None:
    """``count`` signed app_mention events, one per line for signed.lua, each asking its own
    question (:func:`benchmarks._slack_questions.distinct_questions`)."""
    ts = str(int(time.time()))
    questions = distinct_questions(count)
    with path.open("w") as out:
        for index in range(count):
            event = {
                "type": "app_mention",
                "user": USERS[index % len(USERS)],
                "text": f"<@UBOT> {questions[index]}",
                "channel": f"CB{index:07d}",
                "ts": f"{ts}.{index:06d}",
            }
            body = json.dumps(event_callback(event, event_id=f"Ev{run}{index:07d}"))
            out.write(f"{ts}\t{signature(SIGNING_SECRET, ts, body)}\t{body}\n")


@dataclass(frozen=True, slots=True)
class SignedRun:
    """A fake Slack that is running, signed events for wrk in a scratch folder, and the
    environment of a ``certdesk serve`` whose data directory (``data``) is in that folder."""

    fake: FakeSlack
    scratch: Path
    events: Path
    data: Path
    env: dict[str, str]


@contextmanager
def signed_run(count: int, run: str) -> Iterator[SignedRun]:
    """:class:`SignedRun` with ``count`` events (:func:`signed_events`), while the block runs."""
    fake = fake_slack()
    with tempfile.TemporaryDirectory() as folder, fake.running():
        scratch = Path(folder)
        events, data = scratch / "events.tsv", scratch / "data"
        signed_events(events, count, run=run)
        yield SignedRun(fake, scratch, events, data, server_env(data, fake))


def wrk(url: str, events: Path, *, seconds: int, connections: int) -> dict[str, float]:
    """Run wrk on core 1; requests/s, p50 and p99 (ms), requests and non-2xx answers."""
    output = subprocess.run(
        [
            *("taskset", "-c", "1", "wrk", "-t1", f"-c{connections}", f"-d{seconds}s"),
            *("--latency", "-s", str(LUA), url, "--", str(events)),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    figures = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output)[1])}  # type: ignore[index]
    for label, key in (("50%", "p50"), ("99%", "p99")):
        value, unit = re.search(rf"{label}\s+([\d.]+)(us|ms|s)", output).groups()  # type: ignore[union-attr]
        figures[key] = float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    figures["requests"] = float(re.search(r"(\d+) requests in", output)[1])  # type: ignore[index]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    figures["non2xx"] = float(errors[1]) if errors else 0.0
    # wrk gives up on a request after 2 s; its latency figures leave those out.
    timeouts = re.search(r"Socket errors:.*timeout (\d+)", output)
    figures["timeouts"] = float(timeouts[1]) if timeouts else 0.0
    return figures


class RsaLoad:
    """Server-made RSA-2048 PKCS#12 issuances without pause, and /healthz sampled, from
    threads pinned to core 1."""

    def __init__(self, url: str, enrollments: list[dict[str, str]]) -> None:
        self.url = url
        self.todo = list(enrollments)
        self.statuses: Counter[int] = Counter()
        self.health: list[float] = []
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.issue) for _ in range(2)]
        self.threads.append(threading.Thread(target=self.sample))

    def __enter__(self) -> RsaLoad:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join()

    def issue(self) -> None:
        os.sched_setaffinity(0, {1})
        while not self.stop.is_set() and self.todo:
            enrollment = self.todo.pop()
            status, _ = call(
                "POST",
                f"{self.url}/api/v1/enroll/{enrollment['token']}/pkcs12",
                {
                    "reference_number": enrollment["reference_number"],
                    "authorization_code": enrollment["authorization_code"],
                    "password": "bench-password-1",
                    "key_type": "rsa-2048",
                },
                timeout=60,
            )
            self.statuses[status] += 1

    def sample(self) -> None:
        os.sched_setaffinity(0, {1})
        while not self.stop.is_set():
            started = time.perf_counter()
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=30):  # noqa: S310
                self.health.append((time.perf_counter() - started) * 1000)
            time.sleep(0.05)


def pin(pid: int, core: int) -> None:
    os.sched_setaffinity(pid, {core})


def bare_bolt(events: Path, *, seconds: int, connections: int) -> dict[str, float]:
    port = free_port()
    process = subprocess.Popen([sys.executable, str(BARE), str(port), SIGNING_SECRET])
    try:
        pin(process.pid, 0)
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        return wrk(f"http://127.0.0.1:{port}", events, seconds=seconds, connections=connections)
    finally:
        process.terminate()
        process.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10, help="length of each wrk run")
    parser.add_argument("--connections", type=int, default=50, help="wrk connections")
    parser.add_argument(
        "--events", type=int, default=100_000, help="distinct signed events prepared per run"
    )
    parser.add_argument(
        "--rsa", action="store_true", help="run RSA-2048 PKCS#12 issuances during certdesk's run"
    )
    args = parser.parse_args()

    load_at_start = os.getloadavg()
    with signed_run(args.events, run="C") as scene:
        enrollments = (
            create_enrollments(scene.data, 400, profile="client-keygen") if args.rsa else []
        )
        rsa: RsaLoad | None = None
        with live_server(scene.env) as server:
            pin(server.process.pid, 0)
            if args.rsa:
                with RsaLoad(server.url, enrollments) as rsa:
                    ours = wrk(
                        server.url, scene.events, seconds=args.seconds, connections=args.connections
                    )
            else:
                ours = wrk(
                    server.url, scene.events, seconds=args.seconds, connections=args.connections
                )
            acknowledged = min(int(ours["requests"] - ours["non2xx"]), args.events)
            started = time.monotonic()
            while time.monotonic() - started < 60:
                posted = Counter(
                    c.params.get("channel") for c in scene.fake.calls("chat.postMessage")
                )
                if len(posted) >= acknowledged:
                    break
                time.sleep(0.5)
            answered_in = time.monotonic() - started
        bare_events = scene.scratch / "bare.tsv"
        signed_events(bare_events, args.events, run="B")
        bare = bare_bolt(bare_events, seconds=args.seconds, connections=args.connections)

    twice = sum(1 for count in posted.values() if count > 1)
    print(f"signed app_mention events, {args.connections} connections, {args.seconds} s each")
    print(
        f"load average at the start {load_at_start[0]:.1f}, at the end {os.getloadavg()[0]:.1f} "
        f"({os.cpu_count()} cores; other work on the machine slows both servers alike)"
    )
    print(f"{'':<22}{'events/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'non-2xx':>9}{'> 2 s':>7}")
    for name, row in (("certdesk", ours), ("bare slack-bolt", bare)):
        print(
            f"{name:<22}{row['rps']:>10.0f}{row['p50']:>9.2f}{row['p99']:>9.2f}"
            f"{row['non2xx']:>9.0f}{row['timeouts']:>7.0f}"
        )
    print(f"certdesk / bare bolt: {ours['rps'] / bare['rps']:.2f}   ({GOALS})")
    print(
        f"acknowledged {acknowledged}, answered {len(posted)} within {answered_in:.1f} s "
        f"(ceiling 60 s), answered twice {twice}"
    )
    if rsa is not None:
        p99 = percentile(rsa.health, 0.99) if rsa.health else float("nan")
        print(
            f"RSA-2048 PKCS#12 issuances during certdesk's run: {dict(rsa.statuses)} "
            f"(status: count); /healthz p99 {p99:.1f} ms over {len(rsa.health)} samples "
            "(goals under this load: ack p99 < 100 ms, /healthz p99 < 50 ms)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
