"""The labelled questions: their shape, and the goals on the held-out splits.

``tune.jsonl`` is the only split ``benchmarks/faq_tune.py`` reads; ``heldout.jsonl`` and
``heldout2.jsonl`` are never used for tuning.
"""

from __future__ import annotations

from collections import Counter

import pytest

from faq.knowledge import REQUIRED_IDS, KnowledgeBase
from faq.text import detect_language
from tests.faq.conftest import read_labelled

SPLITS = ("tune", "heldout", "heldout2")
HELD_OUT = ("heldout", "heldout2")
GOAL_TOP1 = 0.95
GOAL_REJECTION = 0.90
TOP1_FLOOR = 0.80


def test_labelled_set_is_big_enough() -> None:
    rows = [row for split in SPLITS for row in read_labelled(split)]
    assert len(rows) >= 150
    assert sum(row.expected is None for row in rows) >= 30
    per_id_language = Counter((row.expected, row.language) for row in rows)
    for entry_id in REQUIRED_IDS:
        for language in ("en", "zh"):
            assert per_id_language[(entry_id, language)] >= 5, (entry_id, language)
    assert {"typo", "colloquial", "mixed", "old-platform", "off-topic"} <= {r.style for r in rows}


def test_labelled_splits_do_not_share_questions() -> None:
    seen: dict[str, str] = {}
    for split in SPLITS:
        for row in read_labelled(split):
            key = row.question.strip().casefold()
            assert key not in seen, (row.question, seen.get(key), split)
            seen[key] = split


def test_labelled_questions_are_not_entry_examples(kb: KnowledgeBase) -> None:
    examples = {
        question.strip().casefold()
        for entry in kb.entries.values()
        for language in ("en", "zh")
        for question in (entry.title(language), *entry.questions(language))
    }
    copied = [
        row.question
        for split in SPLITS
        for row in read_labelled(split)
        if row.question.strip().casefold() in examples
    ]
    assert copied == []


def test_labelled_languages_match_detection() -> None:
    wrong = [
        (row.question, row.language)
        for split in SPLITS
        for row in read_labelled(split)
        if detect_language(row.question) != row.language
    ]
    assert wrong == []


def _held_out_rates(kb: KnowledgeBase, split: str) -> tuple[float, float]:
    rows = read_labelled(split)
    on_topic = [row for row in rows if row.expected is not None]
    off_topic = [row for row in rows if row.expected is None]
    correct = sum(kb.ask(row.question).id == row.expected for row in on_topic)
    rejected = sum(kb.ask(row.question).id is None for row in off_topic)
    return correct / len(on_topic), rejected / len(off_topic)


@pytest.mark.parametrize("split", HELD_OUT)
def test_held_out_rejection_meets_goal_and_top1_keeps_its_floor(
    kb: KnowledgeBase, split: str
) -> None:
    """Off-topic rejection meets the issue's goal; top-1 must not fall below what was measured
    when the thresholds were frozen (see faq/README.md), so a regression fails here."""
    top1, rejection = _held_out_rates(kb, split)
    assert rejection >= GOAL_REJECTION
    assert top1 >= TOP1_FLOOR


@pytest.mark.xfail(
    strict=True,
    reason="held-out top-1 is 83-92 %, below the issue's 95 % goal (faq/README.md); "
    "strict, so reaching the goal turns this into a failure to remove the marker",
)
@pytest.mark.parametrize("split", HELD_OUT)
def test_held_out_top1_meets_the_issue_goal(kb: KnowledgeBase, split: str) -> None:
    """Acceptance 2 for top-1 accuracy: NOT met yet."""
    top1, _ = _held_out_rates(kb, split)
    assert top1 >= GOAL_TOP1
