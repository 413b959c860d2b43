"""Distinct questions for the Slack benchmarks' events: the labelled questions of
``tests/faq/data`` in turn, each followed by its event's number written in punctuation
("?", "!", "." and "~"), which the retrieval ignores (no word, no n-gram: each one is scored
exactly like its labelled question) but which makes every normalised question distinct. A
retriever keeps the rankings of the questions asked last: one text repeated would time that
lookup, not the handling."""

from __future__ import annotations

import json
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "tests" / "faq" / "data"


def labelled_questions() -> list[str]:
    return [
        json.loads(line)["question"]
        for path in sorted(DATA.glob("*.jsonl"))
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]


MARKS = "?!.~"


def in_marks(number: int) -> str:
    """``number`` in base 4, written with :data:`MARKS`."""
    digits = MARKS[number % 4]
    while number := number // 4:
        digits = MARKS[number % 4] + digits
    return digits


def distinct_questions(count: int) -> list[str]:
    """``count`` questions, each a labelled one followed by its number in marks."""
    labelled = labelled_questions()
    return [f"{labelled[index % len(labelled)]} {in_marks(index)}" for index in range(count)]
