"""The labelled questions: their shape, and the goals on the held-out splits.

``tune.jsonl`` to ``tune5.jsonl`` are the only splits ``benchmarks/faq_tune.py``
reads; the ``heldout*.jsonl`` splits are never used for tuning.
"""

from __future__ import annotations

from collections import Counter

import pytest

from common.language import detect_language
from faq.knowledge import REQUIRED_IDS, KnowledgeBase
from tests.faq.conftest import read_labelled

SPLITS = (
    "tune",
    "tune2",
    "tune3",
    "tune4",
    "tune5",
    "heldout",
    "heldout2",
    "heldout3",
    "heldout4",
    "heldout5",
    "heldout6",
)
HELD_OUT = ("heldout", "heldout2")
# heldout6 (all 22 topics, written blind in session 7: no entry's examples, no other labelled
# row and no word list read) was measured once, on the ranking of session 6 (16496a4): top-1
# 89.6 %, rejection 97.5 % (39 of 40). With it the pooled held-out top-1 is 94.0 %, under the
# 95 % goal (faq/README.md says so). It is not in the pooled goal test below, which keeps the
# five splits it has always held; it has its floor in NEW_TOPICS_HELD_OUT like the others.
POOLED_GOAL_SPLITS = ("heldout", "heldout2", "heldout3", "heldout4", "heldout5")
HELD_OUT_ALL = tuple(split for split in SPLITS if split in POOLED_GOAL_SPLITS)
# The held-out questions for the eight topics added in issue 15 (heldout3 written first; its
# misses were seen once, so heldout4 was written before the examples that followed), and
# heldout5 (all 22 topics, written in session 5 before any change informed by it). Floors: the
# figures measured at the end of session 5 (faq/README.md), rounded down; heldout3's and
# heldout6's top-1 raised to session 8's figures after its new examples (94.8 %, 91.6 %), and
# every top-1 to session 13's after the second look (95.8, 98.4, 94.7, 92.9 %).
NEW_TOPICS_HELD_OUT = {
    "heldout3": (0.95, 1.0),
    "heldout4": (0.98, 0.875),
    "heldout5": (0.94, 0.92),
    "heldout6": (0.92, 0.97),
}
GOAL_TOP1 = 0.95
GOAL_REJECTION = 0.90


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


def test_labelled_held_out_splits_each_have_a_goal_or_floor() -> None:
    """Every held-out split is measured by a test: none is only shape-checked."""
    held_out = {split for split in SPLITS if split.startswith("heldout")}
    assert held_out == {*HELD_OUT_ALL, *NEW_TOPICS_HELD_OUT} | set(HELD_OUT)
    assert set(HELD_OUT_ALL) == set(POOLED_GOAL_SPLITS)


def test_labelled_languages_match_detection() -> None:
    wrong = [
        (row.question, row.language)
        for split in SPLITS
        for row in read_labelled(split)
        if detect_language(row.question) != row.language
    ]
    assert wrong == []


def _held_out_rates(kb: KnowledgeBase, *splits: str) -> tuple[float, float]:
    rows = [row for split in splits for row in read_labelled(split)]
    on_topic = [row for row in rows if row.expected is not None]
    off_topic = [row for row in rows if row.expected is None]
    correct = sum(kb.ask(row.question).id == row.expected for row in on_topic)
    rejected = sum(kb.ask(row.question).id is None for row in off_topic)
    return correct / len(on_topic), rejected / len(off_topic)


@pytest.mark.parametrize("split", HELD_OUT)
def test_held_out_meets_the_issue_goals(kb: KnowledgeBase, split: str) -> None:
    """Acceptance 2: top-1 >= 95 % and off-topic rejection >= 90 % on each held-out split
    (latency is measured by benchmarks/faq_benchmark.py, not by a timed test)."""
    top1, rejection = _held_out_rates(kb, split)
    assert top1 >= GOAL_TOP1
    assert rejection >= GOAL_REJECTION


def test_pooled_held_out_meets_the_issue_goals(kb: KnowledgeBase) -> None:
    """Every held-out question of the five splits as one set: top-1 >= 95 %, rejection >= 90 %."""
    top1, rejection = _held_out_rates(kb, *HELD_OUT_ALL)
    assert top1 >= GOAL_TOP1
    assert rejection >= GOAL_REJECTION


def test_every_held_out_question_pooled_meets_the_issue_goals(kb: KnowledgeBase) -> None:
    """All six held-out splits as one set, heldout6 included (the benchmark's ``pooled``)."""
    top1, rejection = _held_out_rates(kb, *(split for split in SPLITS if "heldout" in split))
    assert top1 >= GOAL_TOP1
    assert rejection >= GOAL_REJECTION


@pytest.mark.parametrize("split", sorted(NEW_TOPICS_HELD_OUT))
def test_held_out_of_the_new_topics_does_not_regress(kb: KnowledgeBase, split: str) -> None:
    """Not the goal (95 % / 90 %): the figures last measured (NEW_TOPICS_HELD_OUT), as floors,
    so a change that makes them worse fails. README and faq/README say where the goal is
    missed."""
    top1_floor, rejection_floor = NEW_TOPICS_HELD_OUT[split]
    top1, rejection = _held_out_rates(kb, split)
    assert top1 >= top1_floor
    assert rejection >= rejection_floor
