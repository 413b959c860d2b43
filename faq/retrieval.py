"""Ranking short questions against the knowledge entries, and the confidence decision.

Four signals, each in [0, 1], are mixed into one score per entry (weights in
:class:`RankingParams`):

* **BM25** over one document per entry (its titles and example questions in both languages, so a
  mixed question matches on both its English and its Chinese words). The raw BM25 sum is divided
  by the most the question could score (every term saturated), and a term the knowledge base has
  never seen counts with the highest IDF — so "what's the weather in Beijing" scores low because
  most of it is unknown, not because of a tuned cut-off on an unbounded number. English words
  that are not in the vocabulary are first corrected to the nearest known word (edit distance 1,
  or 2 for long words, with the same first letter; swapping two adjacent letters is one edit).
* **BM25 per example question**: the same, against each example alone; an entry takes its best
  example, so a question close to one example is not outvoted by another entry's many examples.
* **Character n-gram cosine** (TF-IDF over trigrams of English words and Chinese bigrams) between
  the question and each example question; an entry takes its best example. This carries typos
  and morphology that stemming misses.
* **A linear classifier** (:mod:`faq.classifier`): the probability a logistic regression trained
  on the example questions gives each entry. The first three signals measure overlap; this one
  has learnt which words tell two neighbouring entries apart.

When that ranking is not confident, a **second look** (:class:`SecondLook`) adds a fifth signal,
the cosine between the question and each entry's nearest example in a multilingual sentence
embedding (:mod:`faq.embedding`), which carries paraphrases that share no word with any example
("my cert is about to run out"), and decides again with thresholds of its own. A confident
lexical answer is never second-guessed, so the embedding costs CPU only for the questions the
words alone could not answer (about one in eight).

A question that contains none of the entries' keywords ("证书", "PIN", "renew", ...) is not
about certificates at all, nor is one that names another credential or document
(:data:`FOREIGN_TERMS`: "ssh", "gpg", "passport", ...): its scores are multiplied by
``off_domain_factor``.

:func:`decide` turns the ranking into one of three outcomes with frozen :class:`Thresholds`; see
``benchmarks/faq_tune.py`` for how the numbers were chosen.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter, OrderedDict, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from faq import text
from faq.errors import EmbeddingUnavailable
from faq.index import Sources, built
from faq.index import digest as index_digest
from faq.scoring import Bm25

if TYPE_CHECKING:
    from faq.classifier import EntryClassifier
    from faq.embedding import EntryEmbeddings

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class RankingParams:
    """How the signals are computed and mixed (tuned, then frozen in :data:`DEFAULT_PARAMS`).

    The three lexical signals are mixed with ``bm25_weight``, ``example_weight`` and the rest
    (n-gram cosine); that mix and the classifier's probability are then mixed with
    ``classifier_weight``. ``regularization`` is the classifier's inverse regularisation.
    """

    k1: float = 1.2
    b: float = 0.75
    bm25_weight: float = 0.5
    example_weight: float = 0.0
    classifier_weight: float = 0.0
    regularization: float = 30.0
    off_domain_factor: float = 1.0

    def __post_init__(self) -> None:
        if self.k1 <= 0:
            raise ValueError(f"k1 must be positive, got {self.k1}")
        if not 0 <= self.b <= 1:
            raise ValueError(f"b must be in [0, 1], got {self.b}")
        if self.regularization <= 0:
            raise ValueError(f"regularization must be positive, got {self.regularization}")
        for name in ("bm25_weight", "example_weight", "classifier_weight", "off_domain_factor"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if self.bm25_weight + self.example_weight > 1:
            raise ValueError("bm25_weight + example_weight must not exceed 1")

    @property
    def ngram_weight(self) -> float:
        return 1 - self.bm25_weight - self.example_weight


@dataclass(frozen=True, slots=True, kw_only=True)
class Thresholds:
    """The confidence decision; all values are scores in [0, 1].

    * ``answer``: the best entry's score plus ``lead_weight`` times its lead over the runner-up
      must reach this, and the lead must be at least ``margin``, for a confident answer (a clear
      lead makes a middling score trustworthy);
    * ``suggest``: below ``answer`` (or without the lead), entries at or above this score are
      offered as "did you mean" suggestions; below it the question is not answered.
    """

    answer: float
    margin: float
    suggest: float
    lead_weight: float = 0.0

    def __post_init__(self) -> None:
        for name in ("answer", "margin", "suggest", "lead_weight"):
            value = getattr(self, name)
            if not 0 <= value <= 1:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        if self.suggest > self.answer:
            raise ValueError(f"suggest ({self.suggest}) must not be above answer ({self.answer})")


# Tuned with benchmarks/faq_tune.py on the tuning splits (tune*.jsonl) plus 5-fold
# cross-validation over the entries' own examples (never on a held-out split): objective
# top-1 + off-topic rejection - 2 x wrong answers over 2,448 ranking settings x 1,342
# thresholds, under the constraint that every entry answers all its own example questions;
# then the did-you-mean band. Re-run the script after changing entries or features, and copy
# its output here. Session 5 (tune3.jsonl added, new examples, FOREIGN_TERMS):
# `faq_tune.py --frozen-lexical` kept every setting but the margin (0.045 -> 0.04).
DEFAULT_PARAMS = RankingParams(
    k1=0.8,
    b=0.75,
    bm25_weight=0.6,
    example_weight=0.0,
    classifier_weight=0.2,
    regularization=30.0,
    off_domain_factor=0.5,
)
DEFAULT_THRESHOLDS = Thresholds(answer=0.46, margin=0.04, suggest=0.26, lead_weight=0.5)
MAX_SUGGESTIONS = 3


@dataclass(frozen=True, slots=True, kw_only=True)
class SecondLook:
    """The ranking again with the sentence embedding, for a question the lexical ranking did not
    answer confidently: each entry's lexical score (lexical mix and classifier, as before) times
    ``1 - weight``, plus ``weight`` times its embedding cosine rescaled from ``floor`` (0) to 1
    (1); then :func:`decide` with ``thresholds``."""

    weight: float
    floor: float
    thresholds: Thresholds

    def __post_init__(self) -> None:
        if not 0 < self.weight <= 1:
            raise ValueError(f"weight must be in (0, 1], got {self.weight}")
        if not 0 <= self.floor < 1:
            raise ValueError(f"floor must be in [0, 1), got {self.floor}")


# Tuned with `benchmarks/faq_tune.py --second-look` on the same tuning splits and folds, the
# lexical ranking and its thresholds frozen (session 13, issue 15).
DEFAULT_SECOND_LOOK = SecondLook(
    weight=0.7,
    floor=0.5,
    thresholds=Thresholds(answer=0.44, margin=0.16, suggest=0.24, lead_weight=0.5),
)


class Outcome(StrEnum):
    CONFIDENT = "confident"
    DID_YOU_MEAN = "did_you_mean"
    NOT_CONFIDENT = "not_confident"


@dataclass(frozen=True, slots=True)
class Candidate:
    entry_id: str
    score: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    """The outcome for one question: ``entry_id`` is set only when confident; ``best_id`` is the
    top-ranked entry whatever the outcome (``None`` when nothing matched at all)."""

    outcome: Outcome
    entry_id: str | None
    best_id: str | None
    score: float
    suggestions: tuple[Candidate, ...] = ()


def decide(ranking: Sequence[Candidate], thresholds: Thresholds) -> Decision:
    """Confident / did you mean / not confident, from a ranking sorted best first."""
    if not ranking:
        return Decision(outcome=Outcome.NOT_CONFIDENT, entry_id=None, best_id=None, score=0.0)
    best = ranking[0]
    runner_up = ranking[1].score if len(ranking) > 1 else 0.0
    lead = best.score - runner_up
    if (
        best.score + thresholds.lead_weight * lead >= thresholds.answer
        and lead >= thresholds.margin
    ):
        return Decision(
            outcome=Outcome.CONFIDENT,
            entry_id=best.entry_id,
            best_id=best.entry_id,
            score=best.score,
        )
    if best.score >= thresholds.suggest:
        suggestions = tuple(
            candidate
            for candidate in ranking[:MAX_SUGGESTIONS]
            if candidate.score >= thresholds.suggest
        )
        return Decision(
            outcome=Outcome.DID_YOU_MEAN,
            entry_id=None,
            best_id=best.entry_id,
            score=best.score,
            suggestions=suggestions,
        )
    return Decision(
        outcome=Outcome.NOT_CONFIDENT, entry_id=None, best_id=best.entry_id, score=best.score
    )


# Words naming another credential, document or server product that shares the entries'
# vocabulary ("key", "certificate", "expire", "renew", "password"): a question naming one is
# damped like an off-domain question ("my ssh private key is lost", "renew my passport"), unless
# the entries' own examples use the word (an RA's entry about SSH keys makes it a domain word).
FOREIGN_TERMS = (
    "ssh",
    "gpg",
    "pgp",
    "passport",
    "driving licence",
    "driver's license",
    "membership",
    "nginx",
    "apache",
    "wifi",
    "wi-fi",
    # other cards with a PIN
    "sim",
    "bank card",
    "credit card",
    "debit card",
    # other kinds of certificate or document
    "birth certificate",
    "marriage certificate",
    "diploma",
    "degree certificate",
    "iso",
    "visa",
    # certificates for a web server, from other tools
    "let's encrypt",
    "letsencrypt",
    "certbot",
    "护照",
    "驾照",
    "驾驶证",
    "会员",
    "无线网",
    "银行卡",
    "信用卡",
    "毕业证",
    "学位证",
    "出生证",
    "结婚证",
    "营业执照",
    "资格证",
)

RANKINGS_KEPT = 4096  # normalised questions whose ranking a retriever keeps
RANKED_CHARS_KEPT = 300  # a longer normalised question is ranked every time, never kept


class _Rankings:
    """The rankings of the questions asked last, by normalised text; the least recently asked
    is dropped first. A retriever is rebuilt when its entries change, and its rankings with it.
    Safe to share between threads."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._kept: OrderedDict[str, tuple[Candidate, ...]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, normalized: str) -> tuple[Candidate, ...] | None:
        with self._lock:
            ranking = self._kept.get(normalized)
            if ranking is not None:
                self._kept.move_to_end(normalized)
            return ranking

    def keep(self, normalized: str, ranking: tuple[Candidate, ...]) -> None:
        with self._lock:
            self._kept[normalized] = ranking
            self._kept.move_to_end(normalized)
            while len(self._kept) > self._size:
                self._kept.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._kept.clear()

    def __len__(self) -> int:
        return len(self._kept)


class Retriever:
    """Ranks entries for a question; built once from ``(entry_id, text)`` example pairs.

    >>> r = Retriever(examples=[("renewal", "How do I renew?"), ("expiry", "When does it expire?")])
    >>> r.rank("how to renew my certificate")[0].entry_id
    'renewal'
    """

    def __init__(
        self,
        *,
        examples: Sequence[tuple[str, str]],
        domain_terms: Iterable[str] = (),
        foreign_terms: Iterable[str] = FOREIGN_TERMS,
        spelled: Iterable[str] | None = None,
        params: RankingParams = DEFAULT_PARAMS,
        cache_dir: Path | None = None,
    ) -> None:
        if not examples:
            raise ValueError("a retriever needs at least one example")
        self.params = params
        sources = Sources(
            examples=tuple(examples),
            domain_terms=tuple(domain_terms),
            foreign_terms=tuple(foreign_terms),
            spelled=None if spelled is None else tuple(spelled),
            params=params,
        )
        index = built(sources, cache_dir=cache_dir)
        self._domain_terms = index.domain_terms
        self._foreign_terms = index.foreign_terms
        self._han_vocabulary = index.han_vocabulary
        self._correct = index.speller.correct
        term_freqs: defaultdict[str, Counter[str]] = defaultdict(Counter)
        example_terms: dict[int, Counter[str]] = {}
        for position, (entry_id, tokens, _) in enumerate(index.labelled):
            terms = Counter(tokens)
            term_freqs[entry_id].update(terms)
            example_terms[position] = terms
        self.entry_ids = tuple(term_freqs)
        self._owners = [entry_id for entry_id, _, _ in index.labelled]
        self._bm25 = Bm25(k1=params.k1, b=params.b, term_freqs=dict(term_freqs))
        self._example_bm25 = Bm25(k1=params.k1, b=params.b, term_freqs=example_terms)
        self._ngrams = index.ngrams
        self._rankings = _Rankings(RANKINGS_KEPT)
        self._second_rankings = _Rankings(RANKINGS_KEPT)
        self._second_kept_for: SecondLook | None = None
        self._said_unavailable = False
        self._examples = tuple(examples)
        self._sources = sources
        self._cache_dir = cache_dir
        self._embeddings: EntryEmbeddings | None = None
        self._embedding_lock = threading.Lock()
        self._classifier: EntryClassifier | None = None
        if params.classifier_weight and len(self.entry_ids) > 1:
            # Imported here: NumPy (and scikit-learn, when the model must be fitted) is only
            # needed once a knowledge base is built, not by every `certdesk` command.
            from faq import classifier

            self._classifier = classifier.trained(
                index.labelled, regularization=params.regularization, cache_dir=cache_dir
            )

    def rank(self, question: str) -> list[Candidate]:
        """Every entry with a score above zero, best first (ties broken by entry id).

        The ranking depends only on the normalised question: the last :data:`RANKINGS_KEPT`
        (up to :data:`RANKED_CHARS_KEPT` characters each) are kept and handed out again."""
        ranking, _ = self._first(self._normalized(question))
        return list(ranking)

    def rank_again(self, question: str, look: SecondLook) -> list[Candidate]:
        """The ranking with the embedding's similarities mixed in (see :class:`SecondLook`);
        kept and handed out again like :meth:`rank`'s."""
        return list(self._second(self._normalized(question), look, None))

    def decide(self, question: str, thresholds: Thresholds, look: SecondLook | None) -> Decision:
        """:func:`decide` on the ranking, and on the second look's when that is not confident
        (the signals are computed once for both)."""
        normalized = self._normalized(question)
        ranking, signals = self._first(normalized)
        decision = decide(ranking, thresholds)
        if decision.outcome is Outcome.CONFIDENT or look is None:
            return decision
        try:
            second = self._second(normalized, look, signals)
        except EmbeddingUnavailable as error:
            if not self._said_unavailable:  # once per knowledge base, not at every question
                self._said_unavailable = True
                log.error("%s", error.message, extra={"code": error.code})
            return decision
        return decide(second, look.thresholds)

    def _first(self, normalized: str) -> tuple[tuple[Candidate, ...], Signals | None]:
        """The lexical ranking, with the signals when they had to be computed."""
        kept = len(normalized) <= RANKED_CHARS_KEPT
        ranking = self._rankings.get(normalized) if kept else None
        if ranking is not None:
            return ranking, None
        signals = self._signals(normalized)
        ranking = self._mixed(signals)
        if kept:
            self._rankings.keep(normalized, ranking)
        return ranking, signals

    def _second(
        self, normalized: str, look: SecondLook, signals: Signals | None
    ) -> tuple[Candidate, ...]:
        kept = len(normalized) <= RANKED_CHARS_KEPT
        if look != self._second_kept_for:  # the kept second rankings are of another look
            self._second_rankings.clear()
            self._second_kept_for = look
        ranking = self._second_rankings.get(normalized) if kept else None
        if ranking is None:
            similarities = self._embedded().similarities(normalized)
            ranking = self._mixed(signals or self._signals(normalized), similarities, look)
            if kept:
                self._second_rankings.keep(normalized, ranking)
        return ranking

    def _mixed(
        self,
        signals: Signals,
        similarities: Mapping[str, float] | None = None,
        look: SecondLook | None = None,
    ) -> tuple[Candidate, ...]:
        """:func:`mix` with this retriever's weights (and the second look's, when given)."""
        return tuple(
            mix(
                signals,
                classifier_weight=self.params.classifier_weight if self._classifier else 0.0,
                off_domain_factor=self.params.off_domain_factor,
                similarities=similarities,
                embedding_weight=look.weight if look else 0.0,
                embedding_floor=look.floor if look else 0.0,
            )
        )

    def similarities(self, question: str) -> dict[str, float]:
        """Each entry's embedding cosine with ``question`` (for tuning, see :func:`mix`)."""
        return self._embedded().similarities(self._normalized(question))

    def _embedded(self) -> EntryEmbeddings:
        """The examples' embeddings, computed (or read from the cache) at the first second look."""
        with self._embedding_lock:
            if self._embeddings is None:
                from faq import embedding

                self._embeddings = embedding.embedded(
                    self._examples,
                    normalize=text.normalize,
                    cache_dir=self._cache_dir,
                    # the index's digest covers the examples and the code that normalises them
                    key=None if self._cache_dir is None else index_digest(self._sources),
                )
            return self._embeddings

    def forget_rankings(self) -> None:
        """Drop the kept rankings (benchmarks call this to time the scoring itself)."""
        self._rankings.clear()
        self._second_rankings.clear()

    def signals(self, question: str) -> Signals:
        """The signals for ``question`` before they are mixed (see :func:`mix`)."""
        return self._signals(self._normalized(question))

    def _normalized(self, question: str) -> str:
        return text.correct_han(text.normalize(question), self._han_vocabulary)

    def _signals(self, normalized: str) -> Signals:
        terms = text.word_tokens(normalized, correct=self._correct)
        stems = set(terms)
        in_domain = (
            not self._domain_terms
            or any(term.found_in(normalized, stems) for term in self._domain_terms)
        ) and not any(term.found_in(normalized, stems) for term in self._foreign_terms)
        params = self.params
        lexical: defaultdict[str, float] = defaultdict(float)
        if params.bm25_weight:
            for entry_id, score in self._bm25.scores(terms).items():
                lexical[entry_id] += params.bm25_weight * score
        if params.example_weight:
            best: dict[str, float] = {}
            for index, score in self._example_bm25.scores(terms).items():
                owner = self._owners[index]
                best[owner] = max(best.get(owner, 0.0), score)
            for entry_id, score in best.items():
                lexical[entry_id] += params.example_weight * score
        grams = Counter(text.char_ngrams(normalized))
        if params.ngram_weight:
            for entry_id, score in self._ngrams.scores(grams).items():
                lexical[entry_id] += params.ngram_weight * score
        probabilities = (
            self._classifier.probabilities(terms, grams.elements())
            if self._classifier is not None
            else {}
        )
        return Signals(lexical=dict(lexical), probabilities=probabilities, in_domain=in_domain)


@dataclass(frozen=True, slots=True, kw_only=True)
class Signals:
    """One question's signals before mixing: the lexical mix of BM25, example BM25 and n-gram
    cosine (in [0, 1]), the classifier's probabilities (empty without a classifier), and whether
    the question contains a domain keyword."""

    lexical: Mapping[str, float]
    probabilities: Mapping[str, float]
    in_domain: bool


def mix(
    signals: Signals,
    *,
    classifier_weight: float,
    off_domain_factor: float,
    similarities: Mapping[str, float] | None = None,
    embedding_weight: float = 0.0,
    embedding_floor: float = 0.0,
) -> list[Candidate]:
    """The ranking from the signals: lexical and classifier mixed, then, for a second look,
    mixed with the embedding ``similarities`` (see :class:`SecondLook`); damped when off-domain."""
    combined: defaultdict[str, float] = defaultdict(float)
    for entry_id, score in signals.lexical.items():
        combined[entry_id] += (1 - classifier_weight) * score
    for entry_id, probability in signals.probabilities.items():
        combined[entry_id] += classifier_weight * probability
    if similarities is not None:
        for entry_id in combined:
            combined[entry_id] *= 1 - embedding_weight
        for entry_id, cosine in similarities.items():
            if cosine > embedding_floor:
                combined[entry_id] += (
                    embedding_weight * (cosine - embedding_floor) / (1 - embedding_floor)
                )
    factor = 1.0 if signals.in_domain else off_domain_factor
    ranking = [
        Candidate(entry_id, min(1.0, score * factor))
        for entry_id, score in combined.items()
        if score > 0
    ]
    ranking.sort(key=lambda candidate: (-candidate.score, candidate.entry_id))
    return ranking
