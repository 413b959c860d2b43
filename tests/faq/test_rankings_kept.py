"""The rankings a retriever keeps for questions asked again: the same ranking as scoring anew,
bounded, and never for a very long question."""

from __future__ import annotations

from faq import retrieval
from faq.knowledge import KnowledgeBase
from faq.retrieval import Candidate, Retriever, _Rankings

EXAMPLES = [
    ("renewal", "How do I renew my certificate?"),
    ("expiry", "When does my certificate expire?"),
    ("pin", "My USB key PIN is locked"),
]


def test_rank_kept_ranking_equals_the_scored_one(kb: KnowledgeBase) -> None:
    question = "how do I find the CN of my certificate"
    kb.forget_rankings()
    scored = kb.rank(question)
    assert kb.rank(question) == scored
    assert kb.rank("  HOW do I find the CN of my certificate ") == scored  # same normalised text
    kb.forget_rankings()
    assert kb.rank(question) == scored


def test_rank_caller_changing_its_list_does_not_change_the_kept_ranking() -> None:
    retriever = Retriever(examples=EXAMPLES)
    ranking = retriever.rank("renew my certificate")
    expected = list(ranking)
    ranking.clear()
    assert retriever.rank("renew my certificate") == expected


def test_rank_very_long_question_is_not_kept() -> None:
    retriever = Retriever(examples=EXAMPLES)
    long_question = "renew " * (retrieval.RANKED_CHARS_KEPT // 6 + 1)
    assert retriever.rank(long_question)[0].entry_id == "renewal"
    assert len(retriever._rankings) == 0
    retriever.rank("renew my certificate")
    assert len(retriever._rankings) == 1


def test_rankings_drop_the_least_recently_asked_first() -> None:
    kept = _Rankings(2)
    one, two, three = ((Candidate(name, 0.5),) for name in ("one", "two", "three"))
    kept.keep("one", one)
    kept.keep("two", two)
    assert kept.get("one") == one  # "two" is now the least recently asked
    kept.keep("three", three)
    assert (kept.get("one"), kept.get("two"), kept.get("three")) == (one, None, three)
    assert len(kept) == 2


def test_forget_rankings_empties_them() -> None:
    retriever = Retriever(examples=EXAMPLES)
    retriever.rank("renew my certificate")
    retriever.forget_rankings()
    assert len(retriever._rankings) == 0
