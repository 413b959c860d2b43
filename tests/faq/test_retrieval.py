"""Ranking and the three-way confidence decision, on small hand-made examples."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from faq.retrieval import (
    DEFAULT_THRESHOLDS,
    Candidate,
    Outcome,
    RankingParams,
    Retriever,
    Signals,
    Thresholds,
    decide,
    mix,
)

THRESHOLDS = Thresholds(answer=0.5, margin=0.1, suggest=0.2)
EXAMPLES = [
    ("renewal", "How do I renew my certificate?"),
    ("renewal", "证书怎么更新"),
    ("expiry", "When does my certificate expire?"),
    ("expiry", "证书什么时候过期"),
    ("pin", "My USB key PIN is locked"),
    ("pin", "USB Key 密码被锁了"),
]


@pytest.fixture(scope="module")
def retriever() -> Retriever:
    return Retriever(examples=EXAMPLES)


def test_decide_confident_when_best_is_high_and_clearly_ahead() -> None:
    decision = decide([Candidate("a", 0.8), Candidate("b", 0.6)], THRESHOLDS)
    assert decision.outcome is Outcome.CONFIDENT
    assert (decision.entry_id, decision.best_id, decision.score) == ("a", "a", 0.8)


def test_decide_did_you_mean_when_best_is_not_clearly_ahead() -> None:
    ranking = [Candidate("a", 0.8), Candidate("b", 0.75), Candidate("c", 0.3), Candidate("d", 0.25)]
    decision = decide(ranking, THRESHOLDS)
    assert decision.outcome is Outcome.DID_YOU_MEAN
    assert decision.entry_id is None
    assert decision.best_id == "a"
    assert [c.entry_id for c in decision.suggestions] == ["a", "b", "c"]


def test_decide_did_you_mean_between_suggest_and_answer_keeps_only_suggestable() -> None:
    decision = decide([Candidate("a", 0.4), Candidate("b", 0.1)], THRESHOLDS)
    assert decision.outcome is Outcome.DID_YOU_MEAN
    assert [c.entry_id for c in decision.suggestions] == ["a"]


def test_decide_not_confident_below_suggest() -> None:
    decision = decide([Candidate("a", 0.19)], THRESHOLDS)
    assert decision.outcome is Outcome.NOT_CONFIDENT
    assert (decision.entry_id, decision.best_id) == (None, "a")
    assert decision.suggestions == ()


def test_decide_empty_ranking_is_not_confident() -> None:
    decision = decide([], THRESHOLDS)
    assert decision.outcome is Outcome.NOT_CONFIDENT
    assert decision.score == 0.0


@pytest.mark.parametrize(
    "values",
    [
        {"answer": 1.2, "margin": 0.1, "suggest": 0.2},
        {"answer": 0.5, "margin": -0.1, "suggest": 0.2},
        {"answer": 0.3, "margin": 0.1, "suggest": 0.4},
    ],
)
def test_thresholds_refuse_impossible_values(values: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must"):
        Thresholds(**values)


def test_ranking_params_refuse_impossible_values() -> None:
    with pytest.raises(ValueError, match="bm25_weight"):
        RankingParams(bm25_weight=1.5)


def test_retriever_needs_examples() -> None:
    with pytest.raises(ValueError, match="at least one example"):
        Retriever(examples=[])


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("how can I renew the certificate", "renewal"),
        ("how do I renwe my certficate", "renewal"),
        ("certificate expiry date", "expiry"),
        ("证书到期时间", "expiry"),
        ("U盾 PIN 码锁了", "pin"),
    ],
)
def test_rank_puts_the_matching_entry_first(
    retriever: Retriever, question: str, expected: str
) -> None:
    assert retriever.rank(question)[0].entry_id == expected


def test_rank_exact_example_scores_far_above_partial_overlap(retriever: Retriever) -> None:
    exact = retriever.rank("When does my certificate expire?")[0]
    partial = retriever.rank("When does the train leave?")
    assert exact.entry_id == "expiry"
    assert not partial or partial[0].score < exact.score / 2


def test_rank_unknown_words_are_not_confident(retriever: Retriever) -> None:
    ranking = retriever.rank("weather forecast tomorrow")
    assert decide(ranking, DEFAULT_THRESHOLDS).outcome is Outcome.NOT_CONFIDENT
    assert all(c.score < DEFAULT_THRESHOLDS.suggest for c in ranking)


def test_rank_off_domain_question_is_damped() -> None:
    """Without any domain term, every score is multiplied by off_domain_factor."""
    plain = Retriever(
        examples=EXAMPLES,
        domain_terms=["certificate", "证书"],
        params=RankingParams(off_domain_factor=1.0),
    )
    damped = Retriever(
        examples=EXAMPLES,
        domain_terms=["certificate", "证书"],
        params=RankingParams(off_domain_factor=0.5),
    )
    off = "When does the USB train leave?"
    assert [c.score * 0.5 for c in plain.rank(off)] == pytest.approx(
        [c.score for c in damped.rank(off)]
    )
    on = "When does my certificate expire?"
    assert plain.rank(on) == damped.rank(on)


@pytest.mark.parametrize(
    "question",
    [
        "When does my SSH key certificate expire?",
        "护照证书什么时候过期",
        "renew my passport",
        "renew my SIM card",
        "毕业证书丢了怎么办",
        "renew the certificate with certbot",
    ],
)
def test_rank_question_naming_another_credential_is_damped(question: str) -> None:
    """A foreign term ("ssh", "护照", "passport") damps a question even with a domain term."""
    damped = Retriever(
        examples=EXAMPLES,
        domain_terms=["certificate", "证书", "renew"],
        params=RankingParams(off_domain_factor=0.5),
    )
    assert damped.signals(question).in_domain is False
    assert damped.signals("When does my certificate expire?").in_domain is True


def test_foreign_term_used_by_an_example_is_a_domain_word() -> None:
    """An RA whose own entry speaks of SSH certificates makes "ssh" a domain word again."""
    with_ssh = Retriever(
        examples=[*EXAMPLES, ("ssh", "How do I get an SSH certificate?")],
        domain_terms=["certificate"],
    )
    assert with_ssh.signals("When does my SSH certificate expire?").in_domain is True


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("how do I rneew my certificate", "how do I renew my certificate"),
        ("When does my certificate exipre?", "When does my certificate expire?"),
        ("证数怎么跟新", "证书怎么更新"),
        ("USB Key 密吗被锁了", "USB Key 密码被锁了"),
    ],
)
def test_rank_corrects_swapped_letters_and_pinyin_slips(typed: str, meant: str) -> None:
    """Two adjacent letters swapped are one edit; a homophone typed by a pinyin keyboard is put
    right where it makes a known bigram: the words rank as if typed correctly (BM25 alone, as
    the character n-grams of an English typo are meant to stay as typed)."""
    retriever = Retriever(examples=EXAMPLES, params=RankingParams(bm25_weight=1.0))
    assert retriever.rank(typed) == retriever.rank(meant)


def test_domain_term_needs_a_word() -> None:
    with pytest.raises(ValueError, match="no word"):
        Retriever(examples=EXAMPLES, domain_terms=["  ?! "])


def test_decide_lead_weight_lets_a_clear_lead_answer() -> None:
    ranking = [Candidate("a", 0.35), Candidate("b", 0.05)]
    strict = Thresholds(answer=0.4, margin=0.1, suggest=0.2)
    lenient = Thresholds(answer=0.4, margin=0.1, suggest=0.2, lead_weight=0.5)
    assert decide(ranking, strict).outcome is Outcome.DID_YOU_MEAN
    assert decide(ranking, lenient).outcome is Outcome.CONFIDENT


def test_rank_is_sorted_best_first(retriever: Retriever) -> None:
    scores = [c.score for c in retriever.rank("certificate 证书 USB key")]
    assert scores == sorted(scores, reverse=True)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_rank_scores_stay_in_unit_interval_for_any_text(question: str) -> None:
    ranking = Retriever(examples=EXAMPLES).rank(question)
    assert all(0.0 < c.score <= 1.0 for c in ranking)


def test_mix_weights_lexical_and_classifier_and_damps_off_domain() -> None:
    signals = Signals(
        lexical={"a": 0.8, "b": 0.4}, probabilities={"a": 0.1, "b": 0.9}, in_domain=True
    )
    lexical_only = mix(signals, classifier_weight=0.0, off_domain_factor=0.5)
    assert [(c.entry_id, round(c.score, 6)) for c in lexical_only] == [("a", 0.8), ("b", 0.4)]
    half = mix(signals, classifier_weight=0.5, off_domain_factor=0.5)
    assert [(c.entry_id, round(c.score, 6)) for c in half] == [("b", 0.65), ("a", 0.45)]
    outside = Signals(lexical={"a": 0.8}, probabilities={}, in_domain=False)
    assert [
        round(c.score, 6) for c in mix(outside, classifier_weight=0.0, off_domain_factor=0.5)
    ] == [0.4]


def test_rank_is_the_mix_of_its_signals() -> None:
    params = RankingParams(classifier_weight=0.4, off_domain_factor=0.5)
    retriever = Retriever(examples=EXAMPLES, domain_terms=["证书", "certificate"], params=params)
    for question in ("how to renew my certificate", "USB key 密码锁了", "what's the weather"):
        signals = retriever.signals(question)
        assert signals.probabilities  # the classifier took part
        assert retriever.rank(question) == mix(
            signals, classifier_weight=0.4, off_domain_factor=0.5
        )
    assert not retriever.signals("what's the weather").in_domain
    assert retriever.signals("when does my certificate expire").in_domain


def test_ranking_params_refuse_out_of_range_classifier_settings() -> None:
    with pytest.raises(ValueError, match="classifier_weight"):
        RankingParams(classifier_weight=1.5)
    with pytest.raises(ValueError, match="regularization"):
        RankingParams(regularization=0.0)
