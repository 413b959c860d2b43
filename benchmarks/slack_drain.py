"""How fast certdesk answers the Slack events it has acknowledged, beside the knowledge
retrieval alone on the same core, in the same run.

A burst of signed ``app_mention`` events, each asking its own question
(``benchmarks/_slack_questions.py``), is sent by wrk (pinned to core 1, 50 connections) to a
real `certdesk serve` (pinned to core 0, embedded SQLite, fake Slack Web API in this process
on core 1). Once the burst is over, the benchmark counts the replies the fake Slack receives
until every acknowledged event is answered (or ``--limit`` seconds pass): the **drain rate** is
the events answered after the burst divided by the time from its end to the last answer.

The **ceiling** is the same questions asked of the knowledge base in a loop, in a process of
its own on core 0 after the server has stopped (``KnowledgeBase.ask``, the rankings kept for
questions asked before dropped each time, as the questions are all distinct anyway): handling an
event cannot be faster than retrieving its answer. Both start cold: the server on a new data
directory and the ceiling without a cache directory load the second look's model and embed
the entries' examples (about 3 s of CPU, once) at the first question that needs it.

    .venv/bin/python benchmarks/slack_drain.py [--seconds 4] [--events 20000] [--limit 120]

Needs wrk (``apt-get install wrk``). Everything stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import _common  # noqa: F401 (puts the project root on sys.path)

from benchmarks._slack_questions import distinct_questions
from benchmarks.slack_ack_benchmark import pin, signed_run, wrk
from tests.support.processes import live_server

CEILING_QUESTIONS = 3000


def ceiling(count: int) -> tuple[float, float]:
    """Questions answered a second by ``KnowledgeBase.ask`` alone, in a process on core 0, and
    its CPU ms a question."""
    output = subprocess.run(
        [sys.executable, __file__, "--ceiling-only", str(count)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rate, cpu_ms = output.split()[-2:]
    return float(rate), float(cpu_ms)


def asks_per_second(count: int) -> tuple[float, float]:
    """Questions a second (wall clock) and CPU ms a question."""
    os.sched_setaffinity(0, {0})
    from faq.knowledge import KnowledgeBase

    kb = KnowledgeBase.load()
    questions = distinct_questions(count)
    started, started_cpu = time.perf_counter(), time.process_time()
    for question in questions:
        kb.forget_rankings()
        kb.ask(question)
    cpu_ms = (time.process_time() - started_cpu) * 1000 / count
    return count / (time.perf_counter() - started), cpu_ms


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=4, help="length of the wrk burst")
    parser.add_argument("--connections", type=int, default=50, help="wrk connections")
    parser.add_argument("--events", type=int, default=20_000, help="distinct events prepared")
    parser.add_argument("--limit", type=float, default=120.0, help="longest wait for answers, s")
    parser.add_argument("--ceiling-only", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.ceiling_only:
        rate, cpu_ms = asks_per_second(args.ceiling_only)
        print(f"{rate:.1f} {cpu_ms:.4f}")
        return 0

    os.sched_setaffinity(0, {1})  # the fake Slack's thread beside wrk, off the server's core
    load_at_start = os.getloadavg()
    with signed_run(args.events, run="D") as scene, live_server(scene.env) as server:
        pin(server.process.pid, 0)
        burst = wrk(server.url, scene.events, seconds=args.seconds, connections=args.connections)
        burst_end, cpu_at_burst_end = time.monotonic(), cpu_seconds(server.process.pid)
        acknowledged = min(int(burst["requests"] - burst["non2xx"]), args.events)
        while time.monotonic() - burst_end < args.limit:
            channels = {c.params.get("channel") for c in scene.fake.calls("chat.postMessage")}
            if len(channels) >= acknowledged:
                break
            time.sleep(0.25)
        drain_cpu = cpu_seconds(server.process.pid) - cpu_at_burst_end
        first: dict[str, float] = {}  # each event's channel, when its reply came
        for call in scene.fake.calls("chat.postMessage"):
            first.setdefault(str(call.params.get("channel")), call.at)
        times = list(first.values())
    during = sum(1 for at in times if at <= burst_end)
    after = [at for at in times if at > burst_end]
    drain_seconds = (max(after) - burst_end) if after else float("nan")
    drain_rate = len(after) / drain_seconds if after else 0.0
    top, retrieval_cpu_ms = ceiling(min(CEILING_QUESTIONS, args.events))
    handling_cpu_ms = drain_cpu * 1000 / len(after) if after else float("nan")
    print(
        f"burst: {args.seconds} s, {args.connections} connections, {burst['rps']:.0f} events/s "
        f"acknowledged ({acknowledged} events)"
    )
    print(
        f"load average at the start {load_at_start[0]:.1f}, at the end {os.getloadavg()[0]:.1f} "
        f"({os.cpu_count()} cores)"
    )
    print(
        f"answered {len(times)} of {acknowledged}: {during} during the burst, {len(after)} in "
        f"the {drain_seconds:.1f} s after it"
    )
    print(
        f"drain {drain_rate:8.0f} events/s   ceiling (knowledge retrieval alone, core 0) "
        f"{top:8.0f} questions/s   drain / ceiling {drain_rate / top:.2f}"
    )
    print(
        f"server CPU per event answered after the burst {handling_cpu_ms:6.2f} ms   "
        f"retrieval alone {retrieval_cpu_ms:6.2f} ms a question   "
        f"share {retrieval_cpu_ms / handling_cpu_ms:.2f}"
    )
    print(
        f"time to answer the burst after it: {drain_seconds:.1f} s "
        f"(goal: every acknowledged event within 60 s)"
    )
    return 0 if len(times) >= acknowledged else 1


if __name__ == "__main__":
    sys.exit(main())
