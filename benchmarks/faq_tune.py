"""Tune the knowledge module's ranking parameters and confidence thresholds.

Reads ONLY the tuning splits (``tests/faq/data/tune*.jsonl``) and the entries themselves; the
held-out splits are for ``benchmarks/faq_benchmark.py`` and are never looked at here. For every
lexical parameter set in the grid it computes each question's signals once (the lexical mix, the
classifier's probabilities, the domain-keyword flag), mixes them for every classifier weight and
off-domain factor with :func:`faq.retrieval.mix` (the function the knowledge base itself uses),
then scans the thresholds, vectorised; a setting scores

    objective = top-1 accuracy + off-topic rejection - 2 x wrong confident answers

* top-1 accuracy: on-topic questions answered confidently with the right entry, over the tuning
  split's on-topic questions plus every entry example question ranked by 5-fold
  cross-validation against a knowledge base without it (paraphrases the retrieval has not seen);
* off-topic rejection: the tuning split's off-topic questions not answered confidently;
* a wrong confident answer misleads the user, so it costs twice what a "did you mean" or
  "not confident" costs.

Settings under which an entry does not answer all of its own example questions confidently are
discarded. Among the settings with the best objective the one nearest the middle of that optimal
region is printed, so the frozen numbers are not balanced on an edge. The "did you mean"
threshold does not change the objective; it is chosen afterwards, below the answer threshold, to
maximise (unanswered on-topic questions whose right entry is suggested) minus (off-topic
questions that get suggestions), each as a share of its group. Copy the numbers into
``faq/retrieval.py`` (DEFAULT_PARAMS, DEFAULT_THRESHOLDS).

``--second-look`` keeps the lexical ranking and its thresholds as they are frozen and tunes only
the second look (:class:`faq.retrieval.SecondLook`): the embedding's weight and floor and the
second thresholds, over the questions the lexical ranking does not answer confidently, with the
same objective over all questions and the same choice of the most central optimal setting. Copy
its output into DEFAULT_SECOND_LOOK.

    python benchmarks/faq_tune.py [--top 5] [--around-current | --frozen-lexical | --second-look]
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from common.language import LANGUAGES
from faq.knowledge import Entry, KnowledgeBase, LocalizedEntry, load_entries
from faq.retrieval import (
    DEFAULT_PARAMS,
    DEFAULT_THRESHOLDS,
    Candidate,
    Outcome,
    RankingParams,
    SecondLook,
    Signals,
    Thresholds,
    decide,
    mix,
)

DATA = Path(__file__).resolve().parent.parent / "tests" / "faq" / "data"
TUNE = tuple(sorted(DATA.glob("tune*.jsonl")))

K1 = (0.8, 1.2)
B = (0.75,)
STEP = 0.1  # weights of (entry BM25, example BM25, n-gram cosine) on a simplex grid
WEIGHTS = tuple(
    (round(entry * STEP, 2), round(example * STEP, 2))
    for entry in range(int(1 / STEP) + 1)
    for example in range(min(5, int(1 / STEP) + 1 - entry))
)
# The classifier's inverse regularisation is not in the grid: 5-fold cross-validation of the
# classifier alone over the entries' examples gave the same top-1 for C = 30 and C = 100 and a
# worse one for C <= 10, so it is fixed at 30 (the middle of the flat region).
REGULARIZATION = 30.0
CLASSIFIER_WEIGHT = (0.0, 0.2, 0.35, 0.5, 0.65, 0.8)
OFF_DOMAIN = (1.0, 0.7, 0.5, 0.3)
LEAD_WEIGHT = (0.0, 0.5)
ANSWER = np.round(np.arange(0.10, 0.705, 0.01), 2)  # 0.10 .. 0.70
MARGIN = np.round(np.arange(0.0, 0.0505, 0.005), 3)  # 0 .. 0.05
SUGGEST_BELOW = 0.08  # suggest = answer - 0.08: does not change the objective, only the UI
# The second look's grid: the embedding's weight and floor (unrelated sentences sit at a cosine
# of 0.1-0.4 in this model's space), then its thresholds.
EMBEDDING_WEIGHT = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
EMBEDDING_FLOOR = (0.3, 0.4, 0.5, 0.6, 0.7)
SECOND_ANSWER = np.round(np.arange(0.20, 0.905, 0.01), 2)  # 0.20 .. 0.90
SECOND_MARGIN = np.round(np.arange(0.0, 0.205, 0.01), 2)  # 0 .. 0.20


@dataclass(frozen=True, slots=True)
class Labelled:
    question: str
    expected: str | None


@dataclass(frozen=True, slots=True)
class Setting:
    params: RankingParams
    thresholds: Thresholds
    objective: float
    accuracy: float
    rejection: float
    wrong: float


def read(paths: tuple[Path, ...] = TUNE) -> list[Labelled]:
    data: list[Labelled] = []
    for path in paths:
        with path.open(encoding="utf-8") as lines:
            data += [Labelled(row["question"], row["expected"]) for row in map(json.loads, lines)]
    return data


@dataclass(frozen=True, slots=True)
class Ranked:
    """What the decision needs from one ranking: the best entry, its score and its lead."""

    expected: str | None
    best_id: str | None
    best: float
    lead: float

    @classmethod
    def of(cls, ranking: list[Candidate], expected: str | None) -> Ranked:
        if not ranking:
            return cls(expected, None, 0.0, 0.0)
        runner_up = ranking[1].score if len(ranking) > 1 else 0.0
        return cls(expected, ranking[0].entry_id, ranking[0].score, ranking[0].score - runner_up)


@dataclass(frozen=True, slots=True)
class Columns:
    """Many :class:`Ranked` as arrays, for scanning every threshold at once."""

    best: np.ndarray
    lead: np.ndarray
    right: np.ndarray  # on-topic and the best entry is the expected one
    wrong: np.ndarray  # on-topic and the best entry is another one
    off_topic: np.ndarray

    @classmethod
    def of(cls, ranked: list[Ranked]) -> Columns:
        on_topic = np.array([item.expected is not None for item in ranked])
        hit = np.array([item.best_id == item.expected for item in ranked])
        return cls(
            best=np.array([item.best for item in ranked]),
            lead=np.array([item.lead for item in ranked]),
            right=on_topic & hit,
            wrong=on_topic & ~hit,
            off_topic=~on_topic,
        )

    def confident(
        self, lead_weight: float, answers: np.ndarray = ANSWER, margins: np.ndarray = MARGIN
    ) -> np.ndarray:
        """Shape (answers, margins, questions): the same rule as faq.retrieval.decide."""
        reach = (self.best + lead_weight * self.lead)[None, None, :] >= answers[:, None, None]
        ahead = self.lead[None, None, :] >= margins[None, :, None]
        confident: np.ndarray = reach & ahead
        return confident


def evaluate(columns: Columns, lead_weight: float) -> tuple[np.ndarray, ...]:
    """(top-1, off-topic rejection, wrong confident), each of shape (answers, margins)."""
    confident = columns.confident(lead_weight)
    on_topic = max(1, int(columns.right.sum() + columns.wrong.sum()))
    off_topic = max(1, int(columns.off_topic.sum()))
    accuracy = (confident & columns.right).sum(axis=2) / on_topic
    wrong = (confident & columns.wrong).sum(axis=2) / on_topic
    rejection = (~confident & columns.off_topic).sum(axis=2) / off_topic
    return accuracy, rejection, wrong


FOLDS = 5


def folds(entries: tuple[Entry, ...]) -> list[tuple[list[Entry], list[Labelled]]]:
    """K-fold splits of the entries' example questions: (entries without the fold, the fold).

    Each entry's examples are dealt round-robin over the folds; titles stay in every fold.
    Ranking a fold against a knowledge base that lacks it measures how the retrieval does on
    paraphrases it has never seen, which the tuning split alone (whose misses inspired some
    entry examples) can no longer tell.
    """
    splits: list[tuple[list[Entry], list[Labelled]]] = []
    for fold in range(FOLDS):
        reduced: list[Entry] = []
        held: list[Labelled] = []
        for entry in entries:
            texts = {}
            for language in LANGUAGES:
                questions = entry.questions(language)
                kept = tuple(q for i, q in enumerate(questions) if i % FOLDS != fold)
                held += [
                    Labelled(q, entry.id) for i, q in enumerate(questions) if i % FOLDS == fold
                ]
                texts[language] = LocalizedEntry(
                    title=entry.title(language),
                    questions=kept,
                    answer=entry.answer(language),
                    keywords=entry.keywords(language),
                )
            reduced.append(Entry(id=entry.id, action=entry.action, texts=texts))
        splits.append((reduced, held))
    return splits


@dataclass(frozen=True, slots=True)
class Signalled:
    """The signals of every question the tuning looks at, under one set of lexical params."""

    own: list[tuple[Signals, str]]  # every entry example against the full knowledge base
    held: list[tuple[Signals, str | None]]  # tuning splits + cross-validated examples


def signals(params: RankingParams, data: list[Labelled]) -> Signalled:
    entries = load_entries()
    kb = KnowledgeBase(entries=entries, params=params)
    own = [
        (kb.signals(question), entry.id)
        for entry in entries
        for language in LANGUAGES
        for question in (entry.title(language), *entry.questions(language))
    ]
    held = [(kb.signals(item.question), item.expected) for item in data]
    for reduced, fold in folds(entries):
        fold_kb = KnowledgeBase(entries=reduced, params=params)
        held += [(fold_kb.signals(item.question), item.expected) for item in fold]
    return Signalled(own, held)


def around_current() -> tuple[tuple[float, ...], tuple[tuple[float, float], ...]]:
    """The frozen lexical setting and its grid neighbours (a quick re-tune after new entries)."""
    current = DEFAULT_PARAMS
    near = tuple(
        (weight, example)
        for weight, example in WEIGHTS
        if abs(weight - current.bm25_weight) <= STEP + 1e-9
        and abs(example - current.example_weight) <= STEP + 1e-9
    )
    return (current.k1,), near


def search(
    data: list[Labelled],
    *,
    k1s: tuple[float, ...] = K1,
    weights: tuple[tuple[float, float], ...] = WEIGHTS,
) -> list[Setting]:
    settings: list[Setting] = []
    for k1, b, (weight, example_weight) in itertools.product(k1s, B, weights):
        lexical = RankingParams(
            k1=k1,
            b=b,
            bm25_weight=weight,
            example_weight=example_weight,
            classifier_weight=0.5,  # builds the classifier; the weight is applied in mix()
            regularization=REGULARIZATION,
        )
        signalled = signals(lexical, data)
        for classifier_weight, off_domain in itertools.product(CLASSIFIER_WEIGHT, OFF_DOMAIN):
            mixing: dict[str, Any] = {
                "classifier_weight": classifier_weight,
                "off_domain_factor": off_domain,
            }
            own = [Ranked.of(mix(sig, **mixing), expected) for sig, expected in signalled.own]
            if any(item.best_id != item.expected for item in own):
                continue  # every entry must rank first for its own example questions ...
            columns = Columns.of(
                [Ranked.of(mix(sig, **mixing), expected) for sig, expected in signalled.held]
            )
            params = dataclasses.replace(lexical, **mixing)
            own_lead = min(item.lead for item in own)
            for lead_weight in LEAD_WEIGHT:
                own_floor = min(item.best + lead_weight * item.lead for item in own)
                accuracy, rejection, wrong = evaluate(columns, lead_weight)
                objective = accuracy + rejection - 2 * wrong
                # ... and answer them confidently.
                allowed = (ANSWER[:, None] <= own_floor) & (MARGIN[None, :] <= own_lead)
                objective = np.where(allowed, objective, -np.inf)
                settings += [
                    Setting(params, thresholds, *at(a, m, objective, accuracy, rejection, wrong))
                    for a, m, thresholds in optimal(objective, ANSWER, MARGIN, lead_weight)
                ]
    return settings


def optimal(
    objective: np.ndarray, answers: np.ndarray, margins: np.ndarray, lead_weight: float
) -> Iterator[tuple[int, int, Thresholds]]:
    """The cells of ``objective`` (answers x margins) at its maximum, with their thresholds."""
    top = objective.max()
    if not np.isfinite(top):
        return
    for a, m in zip(*np.nonzero(objective >= top - 1e-9), strict=True):
        answer = float(answers[a])
        yield (
            int(a),
            int(m),
            Thresholds(
                answer=answer,
                margin=float(margins[m]),
                suggest=round(max(0.0, answer - SUGGEST_BELOW), 2),
                lead_weight=lead_weight,
            ),
        )


def at(a: int, m: int, *grids: np.ndarray) -> tuple[float, ...]:
    return tuple(float(grid[a, m]) for grid in grids)


Chosen = TypeVar("Chosen")


def most_central(best: list[Chosen], point: Callable[[Chosen], tuple[float, ...]]) -> Chosen:
    """The optimal setting nearest the centroid of all optimal settings (normalised axes)."""
    points = [point(setting) for setting in best]
    centroid = tuple(sum(axis) / len(points) for axis in zip(*points, strict=True))
    return min(
        best,
        key=lambda s: sum((a - c) ** 2 for a, c in zip(point(s), centroid, strict=True)),
    )


def central(best: list[Setting]) -> Setting:
    def point(setting: Setting) -> tuple[float, ...]:
        p, t = setting.params, setting.thresholds
        return (
            p.k1 / 2,
            p.b,
            p.bm25_weight,
            p.example_weight,
            p.classifier_weight,
            p.off_domain_factor,
            t.answer / 0.5,
            t.margin / 0.1,
            t.lead_weight,
        )

    return most_central(best, point)


SUGGEST_STEPS = tuple(round(0.01 * step, 2) for step in range(1, 21))  # 0.01 .. 0.20 below answer


def tune_suggest(chosen: Setting, data: list[Labelled]) -> tuple[Thresholds, float, float]:
    """The suggest threshold for ``chosen``: (thresholds, helped share, bothered share)."""
    entries = load_entries()
    kb = KnowledgeBase(entries=entries, params=chosen.params)
    rankings = [kb.rank(item.question) for item in data]
    for reduced, held in folds(entries):
        fold_kb = KnowledgeBase(entries=reduced, params=chosen.params)
        rankings += [fold_kb.rank(item.question) for item in held]
        data = [*data, *held]
    best: tuple[float, Thresholds, float, float] | None = None
    for below in SUGGEST_STEPS:
        t = chosen.thresholds
        thresholds = Thresholds(
            answer=t.answer,
            margin=t.margin,
            suggest=round(max(0.0, t.answer - below), 2),
            lead_weight=t.lead_weight,
        )
        missed = helped = off_topic = bothered = 0
        for ranking, item in zip(rankings, data, strict=True):
            decision = decide(ranking, thresholds)
            if item.expected is None:
                off_topic += 1
                bothered += decision.outcome is Outcome.DID_YOU_MEAN
            elif decision.outcome is not Outcome.CONFIDENT:
                missed += 1
                helped += any(c.entry_id == item.expected for c in decision.suggestions)
        gain = (helped / missed if missed else 0.0) - bothered / off_topic
        if best is None or gain >= best[0]:  # ties: the wider "did you mean" band
            best = (gain, thresholds, helped / missed if missed else 0.0, bothered / off_topic)
    assert best is not None
    return best[1], best[2], best[3]


@dataclass(frozen=True, slots=True)
class Looked:
    """The questions the frozen lexical ranking does not answer, with what a second look needs,
    and the counts of those it does answer (they stay as they are)."""

    rows: list[tuple[Signals, dict[str, float], str | None]]
    on_topic: int
    off_topic: int
    right: int
    wrong: int
    answered_off_topic: int


def looked(data: list[Labelled]) -> Looked:
    entries = load_entries()
    pairs = [(KnowledgeBase(entries=entries, second_look=None), data)]
    pairs += [
        (KnowledgeBase(entries=reduced, second_look=None), held) for reduced, held in folds(entries)
    ]
    rows: list[tuple[Signals, dict[str, float], str | None]] = []
    on_topic = off_topic = right = wrong = answered_off_topic = 0
    for kb, items in pairs:
        for item in items:
            on_topic += item.expected is not None
            off_topic += item.expected is None
            decision = decide(kb.rank(item.question), DEFAULT_THRESHOLDS)
            if decision.outcome is not Outcome.CONFIDENT:
                rows.append(
                    (kb.signals(item.question), kb.similarities(item.question), item.expected)
                )
            elif item.expected is None:
                answered_off_topic += 1
            elif decision.entry_id == item.expected:
                right += 1
            else:
                wrong += 1
    return Looked(rows, on_topic, off_topic, right, wrong, answered_off_topic)


@dataclass(frozen=True, slots=True)
class LookSetting:
    look: SecondLook
    objective: float
    accuracy: float
    rejection: float
    wrong: float


def second_rankings(data: Looked, weight: float, floor: float) -> list[list[Candidate]]:
    mixing: dict[str, Any] = {  # as in search(): the frozen lexical mix, then the embedding's
        "classifier_weight": DEFAULT_PARAMS.classifier_weight,
        "off_domain_factor": DEFAULT_PARAMS.off_domain_factor,
        "embedding_weight": weight,
        "embedding_floor": floor,
    }
    return [mix(signals, similarities=similar, **mixing) for signals, similar, _ in data.rows]


def search_second_look(data: Looked) -> list[LookSetting]:
    settings: list[LookSetting] = []
    for weight, floor in itertools.product(EMBEDDING_WEIGHT, EMBEDDING_FLOOR):
        columns = Columns.of(
            [
                Ranked.of(ranking, expected)
                for ranking, (_, _, expected) in zip(
                    second_rankings(data, weight, floor), data.rows, strict=True
                )
            ]
        )
        for lead_weight in LEAD_WEIGHT:
            confident = columns.confident(lead_weight, SECOND_ANSWER, SECOND_MARGIN)
            accuracy = (data.right + (confident & columns.right).sum(axis=2)) / data.on_topic
            wrong = (data.wrong + (confident & columns.wrong).sum(axis=2)) / data.on_topic
            answered = data.answered_off_topic + (confident & columns.off_topic).sum(axis=2)
            rejection = 1 - answered / data.off_topic
            objective = accuracy + rejection - 2 * wrong
            settings += [
                LookSetting(
                    SecondLook(weight=weight, floor=floor, thresholds=thresholds),
                    *at(a, m, objective, accuracy, rejection, wrong),
                )
                for a, m, thresholds in optimal(
                    objective, SECOND_ANSWER, SECOND_MARGIN, lead_weight
                )
            ]
    return settings


def central_look(best: list[LookSetting]) -> LookSetting:
    def point(setting: LookSetting) -> tuple[float, ...]:
        look = setting.look
        t = look.thresholds
        return (look.weight, look.floor, t.answer / 0.5, t.margin / 0.1, t.lead_weight)

    return most_central(best, point)


def tune_second_suggest(chosen: LookSetting, data: Looked) -> tuple[SecondLook, float, float]:
    """The second look's suggest threshold, chosen as :func:`tune_suggest` chooses it."""
    look = chosen.look
    rankings = second_rankings(data, look.weight, look.floor)
    best: tuple[float, SecondLook, float, float] | None = None
    for below in SUGGEST_STEPS:
        t = look.thresholds
        thresholds = dataclasses.replace(t, suggest=round(max(0.0, t.answer - below), 2))
        missed = helped = off_topic = bothered = 0
        for ranking, (_, _, expected) in zip(rankings, data.rows, strict=True):
            decision = decide(ranking, thresholds)
            if expected is None:
                off_topic += 1
                bothered += decision.outcome is Outcome.DID_YOU_MEAN
            elif decision.outcome is not Outcome.CONFIDENT:
                missed += 1
                helped += any(c.entry_id == expected for c in decision.suggestions)
        helped_share = helped / missed if missed else 0.0
        bothered_share = bothered / off_topic if off_topic else 0.0
        gain = helped_share - bothered_share
        if best is None or gain >= best[0]:  # ties: the wider "did you mean" band
            best = (
                gain,
                dataclasses.replace(look, thresholds=thresholds),
                helped_share,
                bothered_share,
            )
    assert best is not None
    return best[1], best[2], best[3]


def print_chosen(chosen: Setting | LookSetting, helped: float, bothered: float) -> None:
    print(
        f"  top-1 {chosen.accuracy:.1%}  off-topic rejection {chosen.rejection:.1%}  "
        f"wrong confident {chosen.wrong:.1%}"
    )
    print(
        f"  did you mean: right entry suggested for {helped:.0%} of unanswered on-topic "
        f"questions; {bothered:.0%} of off-topic questions get suggestions"
    )


def main_second_look(data: list[Labelled], top_n: int) -> None:
    found = looked(data)
    settings = sorted(search_second_look(found), key=lambda s: -s.objective)
    top = settings[0].objective
    best = [s for s in settings if s.objective >= top - 1e-9]
    chosen = central_look(best)
    look, helped, bothered = tune_second_suggest(chosen, found)
    before = (
        found.right / found.on_topic
        + 1
        - found.answered_off_topic / found.off_topic
        - 2 * found.wrong / found.on_topic
    )
    print(
        f"{found.on_topic + found.off_topic} questions; the frozen lexical ranking leaves "
        f"{len(found.rows)} unanswered; objective without a second look {before:.3f}"
    )
    print(f"best objective {top:.3f} reached by {len(best)} settings; chosen (most central):")
    print(f"  {look}")
    print_chosen(chosen, helped, bothered)
    print("best settings of other weights and floors:")
    seen = {(look.weight, look.floor)}
    for setting in settings:
        key = (setting.look.weight, setting.look.floor)
        if key in seen:
            continue
        seen.add(key)
        print(
            f"  {setting.objective:.3f}  {setting.look}  top-1 {setting.accuracy:.1%} "
            f"rejection {setting.rejection:.1%} wrong {setting.wrong:.1%}"
        )
        if len(seen) > top_n:
            break


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--top", type=int, default=5, help="how many runner-up settings to show")
    parser.add_argument(
        "--around-current",
        action="store_true",
        help="search only the frozen lexical weights and their grid neighbours (minutes, not an "
        "hour); the classifier weight, damping and thresholds are searched in full",
    )
    parser.add_argument(
        "--frozen-lexical",
        action="store_true",
        help="keep the frozen lexical weights (a few minutes): search only the classifier "
        "weight, damping and thresholds, e.g. after new example questions",
    )
    parser.add_argument(
        "--second-look",
        action="store_true",
        help="keep the lexical ranking and thresholds: tune only the second look's embedding "
        "weight, floor and thresholds (a minute)",
    )
    args = parser.parse_args()
    data = read()
    if args.second_look:
        main_second_look(data, args.top)
        return
    if args.frozen_lexical:
        current = DEFAULT_PARAMS
        weights = ((current.bm25_weight, current.example_weight),)
        settings = search(data, k1s=(current.k1,), weights=weights)
    elif args.around_current:
        k1s, weights = around_current()
        settings = search(data, k1s=k1s, weights=weights)
    else:
        settings = search(data)
    settings.sort(key=lambda s: -s.objective)
    top = settings[0].objective
    best = [s for s in settings if s.objective >= top - 1e-9]
    chosen = central(best)
    names = ", ".join(path.name for path in TUNE)
    print(f"tuning splits ({names}): {len(data)} questions, {len(settings)} optimal settings kept")
    print(f"best objective {top:.3f} reached by {len(best)} settings; chosen (most central):")
    thresholds, helped, bothered = tune_suggest(chosen, data)
    print(f"  {chosen.params}\n  {thresholds}")
    print_chosen(chosen, helped, bothered)
    seen: set[RankingParams] = {chosen.params}
    print("best settings of other ranking parameters:")
    for setting in settings:
        if setting.params in seen:
            continue
        seen.add(setting.params)
        print(
            f"  {setting.objective:.3f}  {setting.params}  {setting.thresholds}  "
            f"top-1 {setting.accuracy:.1%} rejection {setting.rejection:.1%} "
            f"wrong {setting.wrong:.1%}"
        )
        if len(seen) > args.top:
            break


if __name__ == "__main__":
    main()
