"""Benchmark the knowledge module on the held-out questions.

Prints top-1 accuracy (on-topic questions answered confidently with the right entry), off-topic
rejection (off-topic questions without a confident answer), and p50 / p99 wall-clock latency of
``KnowledgeBase.ask`` per question (plus the CPU time, which a busy shared machine does not
inflate, and the load average at the end). Goals: top-1 >= 95 %, rejection >= 90 %, p99 < 10 ms.

    python benchmarks/faq_benchmark.py [--split heldout heldout2 tune] [--rounds 20] [--verbose]
                                       [--json]

By default every held-out split is measured, then all their questions pooled (``pooled``). The
goals are the held-out set's, as the issue states them and ``tests/faq/test_labelled_data.py``
checks them: the exit status is 1 when the pooled set misses one (a single split measured: when
that split does). Each split's own line says which goals that split alone misses; a split is a
small sample (8 to 40 off-topic questions: one question moves its rejection by 2.5 to 12.5
points), and README.md quotes every split's figures beside the pooled ones. The held-out
splits are never used for tuning (``benchmarks/faq_tune.py`` reads only the tuning splits,
``tune*.jsonl``). ``heldout2`` was written after the first measurement of ``heldout`` and
before any change informed by that measurement; faq/README.md says when each later split was
written.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from _common import percentile

from faq.knowledge import KnowledgeBase
from faq.retrieval import Outcome

DATA = Path(__file__).resolve().parent.parent / "tests" / "faq" / "data"
GOAL_TOP1 = 0.95
GOAL_REJECTION = 0.90
GOAL_P99_MS = 10.0


@dataclass(frozen=True, slots=True)
class Report:
    split: str
    questions: int
    on_topic: int
    off_topic: int
    top1_accuracy: float
    wrong_confident: float
    did_you_mean_with_right_entry: float
    off_topic_rejection: float
    off_topic_without_suggestions: float
    latency_p50_ms: float
    latency_p99_ms: float
    cpu_p50_ms: float
    cpu_p99_ms: float
    load_average: float

    @property
    def missed_goals(self) -> list[str]:
        checks = (
            ("top-1", self.top1_accuracy >= GOAL_TOP1),
            ("rejection", self.off_topic_rejection >= GOAL_REJECTION),
            ("p99", self.latency_p99_ms < GOAL_P99_MS),
        )
        return [name for name, met in checks if not met]

    @property
    def meets_goals(self) -> bool:
        return not self.missed_goals


def read_split(split: str) -> list[dict[str, Any]]:
    return [
        json.loads(line)
        for line in (DATA / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]


def run(split: str, rows: list[dict[str, Any]], rounds: int, verbose: bool) -> Report:
    kb = KnowledgeBase.load()
    on_topic = [row for row in rows if row["expected"] is not None]
    off_topic = [row for row in rows if row["expected"] is None]
    correct = wrong = suggested = rejected = silent = 0
    for row in rows:
        answer = kb.ask(row["question"])
        if row["expected"] is None:
            rejected += answer.id is None
            silent += answer.outcome is Outcome.NOT_CONFIDENT
            ok = answer.id is None
        else:
            ok = answer.id == row["expected"]
            correct += ok
            wrong += answer.id is not None and not ok
            suggested += any(s.id == row["expected"] for s in answer.suggestions)
        if verbose and not ok:
            shown = answer.id or [s.id for s in answer.suggestions]
            print(f"  miss: {row['question']!r} expected {row['expected']} got {shown}")
    latencies: list[float] = []
    cpu: list[float] = []
    for _ in range(rounds):
        for row in rows:
            kb.forget_rankings()  # time the scoring, not the lookup of a ranking kept before
            started, started_cpu = time.perf_counter(), time.process_time()
            kb.ask(row["question"])
            latencies.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - started_cpu) * 1000)
    return Report(
        split=split,
        questions=len(rows),
        on_topic=len(on_topic),
        off_topic=len(off_topic),
        top1_accuracy=correct / len(on_topic),
        wrong_confident=wrong / len(on_topic),
        did_you_mean_with_right_entry=suggested / len(on_topic),
        off_topic_rejection=rejected / len(off_topic),
        off_topic_without_suggestions=silent / len(off_topic),
        latency_p50_ms=statistics.median(latencies),
        latency_p99_ms=percentile(latencies, 0.99),
        cpu_p50_ms=statistics.median(cpu),
        cpu_p99_ms=percentile(cpu, 0.99),
        load_average=os.getloadavg()[0],
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--split",
        nargs="+",
        default=sorted(path.stem for path in DATA.glob("heldout*.jsonl")),
        choices=sorted(path.stem for path in DATA.glob("*.jsonl")),
    )
    parser.add_argument("--rounds", type=int, default=20, help="timing passes over the split")
    parser.add_argument("--verbose", action="store_true", help="list every miss")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args()
    splits = {split: read_split(split) for split in args.split}
    reports = [run(split, rows, args.rounds, args.verbose) for split, rows in splits.items()]
    if len(splits) > 1:  # every question of the splits measured, as one set
        pooled = [row for rows in splits.values() for row in rows]
        reports.append(run("pooled", pooled, args.rounds, verbose=False))
    for report in reports:
        show(report, as_json=args.json)
    return 0 if reports[-1].meets_goals else 1  # the pooled set, or the one split measured


def _verdict(report: Report) -> str:
    if report.meets_goals:
        return "goals met"
    where = "the pooled set" if report.split == "pooled" else "this split alone"
    return f"goals NOT met on {where}: {', '.join(report.missed_goals)}"


def show(report: Report, *, as_json: bool) -> None:
    if as_json:
        print(json.dumps({**asdict(report), "meets_goals": report.meets_goals}))
    else:
        print(
            f"split {report.split}: {report.questions} questions "
            f"({report.on_topic} on-topic, {report.off_topic} off-topic)\n"
            f"top-1 accuracy       {report.top1_accuracy:7.1%}   (goal >= {GOAL_TOP1:.0%})\n"
            f"  wrong confident    {report.wrong_confident:7.1%}\n"
            f"  right entry in did-you-mean {report.did_you_mean_with_right_entry:.1%}\n"
            f"off-topic rejection  {report.off_topic_rejection:7.1%}   "
            f"(goal >= {GOAL_REJECTION:.0%})\n"
            f"  without suggestions {report.off_topic_without_suggestions:6.1%}\n"
            f"latency p50          {report.latency_p50_ms:7.3f} ms\n"
            f"latency p99          {report.latency_p99_ms:7.3f} ms (goal < {GOAL_P99_MS:g} ms)\n"
            f"  CPU time p50 / p99 {report.cpu_p50_ms:7.3f} / {report.cpu_p99_ms:.3f} ms "
            f"(machine load average {report.load_average:.1f})\n"
            f"{_verdict(report)}\n"
        )


if __name__ == "__main__":
    sys.exit(main())
