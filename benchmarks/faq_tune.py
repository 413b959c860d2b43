"""Tune the knowledge module's ranking parameters and confidence thresholds.

Reads ONLY the tuning split (``tests/faq/data/tune.jsonl``) and the entries themselves; the
held-out splits are for ``benchmarks/faq_benchmark.py`` and are never looked at here. For every
ranking parameter set in the grid it ranks each question once, then scans the thresholds; a
setting scores

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

    python benchmarks/faq_tune.py [--top 5]
"""

from __future__ import annotations

import argparse
import itertools
import json
from dataclasses import dataclass
from pathlib import Path

from faq.knowledge import Entry, KnowledgeBase, LocalizedEntry, load_entries
from faq.retrieval import Candidate, Outcome, RankingParams, Thresholds, decide
from faq.text import LANGUAGES

TUNE = Path(__file__).resolve().parent.parent / "tests" / "faq" / "data" / "tune.jsonl"

K1 = (0.8, 1.2)
B = (0.75,)
STEP = 0.1  # weights of (entry BM25, example BM25, n-gram cosine) on a simplex grid
WEIGHTS = tuple(
    (round(entry * STEP, 2), round(example * STEP, 2))
    for entry in range(int(1 / STEP) + 1)
    for example in range(min(5, int(1 / STEP) + 1 - entry))
)
OFF_DOMAIN = (1.0, 0.7, 0.5)
LEAD_WEIGHT = (0.0, 0.5)
ANSWER = tuple(round(0.10 + 0.01 * step, 2) for step in range(61))  # 0.10 .. 0.70
MARGIN = tuple(round(0.005 * step, 3) for step in range(11))  # 0 .. 0.05
SUGGEST_BELOW = 0.08  # suggest = answer - 0.08: does not change the objective, only the UI


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


def read(path: Path) -> list[Labelled]:
    with path.open(encoding="utf-8") as lines:
        return [Labelled(row["question"], row["expected"]) for row in map(json.loads, lines) if row]


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

    def confident(self, answer: float, margin: float, lead_weight: float) -> bool:
        """The same rule as faq.retrieval.decide."""
        return self.best + lead_weight * self.lead >= answer and self.lead >= margin


def evaluate(
    ranked: list[Ranked], answer: float, margin: float, lead_weight: float
) -> tuple[float, float, float]:
    on_topic = sum(1 for item in ranked if item.expected is not None)
    off_topic = len(ranked) - on_topic
    correct = wrong = rejected = 0
    for item in ranked:
        confident = item.confident(answer, margin, lead_weight)
        if item.expected is None:
            rejected += not confident
        elif confident and item.best_id == item.expected:
            correct += 1
        elif confident:
            wrong += 1
    return correct / on_topic, rejected / off_topic, wrong / on_topic


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


def cross_validated(entries: tuple[Entry, ...], params: RankingParams) -> list[Ranked]:
    ranked: list[Ranked] = []
    for reduced, held in folds(entries):
        kb = KnowledgeBase(entries=reduced, params=params)
        ranked += [Ranked.of(kb.rank(item.question), item.expected) for item in held]
    return ranked


def search(data: list[Labelled]) -> list[Setting]:
    entries = load_entries()
    own_examples = [
        (question, entry.id)
        for entry in entries
        for language in LANGUAGES
        for question in (entry.title(language), *entry.questions(language))
    ]
    settings: list[Setting] = []
    for k1, b, (weight, example_weight), off_domain in itertools.product(
        K1, B, WEIGHTS, OFF_DOMAIN
    ):
        params = RankingParams(
            k1=k1,
            b=b,
            bm25_weight=weight,
            example_weight=example_weight,
            off_domain_factor=off_domain,
        )
        kb = KnowledgeBase(entries=entries, params=params)
        own = [Ranked.of(kb.rank(question), entry_id) for question, entry_id in own_examples]
        if any(item.best_id != item.expected for item in own):
            continue  # every entry must rank first for its own example questions ...
        ranked = [Ranked.of(kb.rank(item.question), item.expected) for item in data]
        ranked += cross_validated(entries, params)
        own_lead = min(item.lead for item in own)
        own_floor = {w: min(item.best + w * item.lead for item in own) for w in LEAD_WEIGHT}
        for answer, margin, lead_weight in itertools.product(ANSWER, MARGIN, LEAD_WEIGHT):
            if margin > own_lead or answer > own_floor[lead_weight]:
                continue  # ... and answer them confidently
            accuracy, rejection, wrong = evaluate(ranked, answer, margin, lead_weight)
            thresholds = Thresholds(
                answer=answer,
                margin=margin,
                suggest=round(max(0.0, answer - SUGGEST_BELOW), 2),
                lead_weight=lead_weight,
            )
            objective = accuracy + rejection - 2 * wrong
            settings.append(Setting(params, thresholds, objective, accuracy, rejection, wrong))
    return settings


def central(best: list[Setting]) -> Setting:
    """The optimal setting nearest the centroid of all optimal settings (normalised axes)."""

    def point(setting: Setting) -> tuple[float, ...]:
        p, t = setting.params, setting.thresholds
        return (
            p.k1 / 2,
            p.b,
            p.bm25_weight,
            p.example_weight,
            p.off_domain_factor,
            t.answer / 0.5,
            t.margin / 0.1,
            t.lead_weight,
        )

    points = [point(setting) for setting in best]
    centroid = tuple(sum(axis) / len(points) for axis in zip(*points, strict=True))
    return min(
        best,
        key=lambda s: sum((a - c) ** 2 for a, c in zip(point(s), centroid, strict=True)),
    )


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--top", type=int, default=5, help="how many runner-up settings to show")
    args = parser.parse_args()
    data = read(TUNE)
    settings = search(data)
    settings.sort(key=lambda s: -s.objective)
    top = settings[0].objective
    best = [s for s in settings if s.objective >= top - 1e-9]
    chosen = central(best)
    print(f"tuning split: {len(data)} questions, {len(settings)} settings tried")
    print(f"best objective {top:.3f} reached by {len(best)} settings; chosen (most central):")
    thresholds, helped, bothered = tune_suggest(chosen, data)
    print(f"  {chosen.params}\n  {thresholds}")
    print(
        f"  top-1 {chosen.accuracy:.1%}  off-topic rejection {chosen.rejection:.1%}  "
        f"wrong confident {chosen.wrong:.1%}"
    )
    print(
        f"  did you mean: right entry suggested for {helped:.0%} of unanswered on-topic "
        f"questions; {bothered:.0%} of off-topic questions get suggestions"
    )
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
