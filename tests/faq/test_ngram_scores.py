"""The n-gram cosine's NumPy scorer gives the same bits as adding up one term at a time."""

from __future__ import annotations

import math
from collections import Counter, defaultdict

import pytest

from faq import text
from faq.knowledge import KnowledgeBase
from faq.scoring import NgramCosine
from tests.faq.conftest import DATA, read_labelled


class OneTermAtATime:
    """The scorer as it was before NumPy: postings of Python floats, summed in the question's
    n-gram order, each entry keeping its best example."""

    def __init__(self, examples: list[tuple[str, Counter[str]]]) -> None:
        count = len(examples)
        document_freq: Counter[str] = Counter()
        for _, example in examples:
            document_freq.update(example.keys())
        self.idf = {
            gram: math.log((count + 1) / (df + 1)) + 1 for gram, df in document_freq.items()
        }
        self.unseen = math.log(count + 1) + 1
        self.owners = [owner for owner, _ in examples]
        self.postings: defaultdict[str, list[tuple[int, float]]] = defaultdict(list)
        for index, (_, example) in enumerate(examples):
            weights = {gram: tf * self.idf[gram] for gram, tf in example.items()}
            norm = math.sqrt(sum(weight * weight for weight in weights.values())) or 1.0
            for gram, weight in weights.items():
                self.postings[gram].append((index, weight / norm))

    def scores(self, grams: Counter[str]) -> dict[str, float]:
        if not grams:
            return {}
        query = {gram: tf * self.idf.get(gram, self.unseen) for gram, tf in grams.items()}
        norm = math.sqrt(sum(weight * weight for weight in query.values()))
        dots: defaultdict[int, float] = defaultdict(float)
        for gram, weight in query.items():
            for index, doc_weight in self.postings.get(gram, ()):
                dots[index] += weight * doc_weight
        best: dict[str, float] = {}
        for index, dot in dots.items():
            value = dot / norm
            if value > best.get(self.owners[index], 0.0):
                best[self.owners[index]] = value
        return best


def every_labelled_question() -> list[str]:
    return [
        row.question for path in sorted(DATA.glob("*.jsonl")) for row in read_labelled(path.stem)
    ]


def test_ngram_scores_are_bit_identical_to_one_term_at_a_time_over_every_labelled_question(
    kb: KnowledgeBase,
) -> None:
    """Every labelled question and every example question, against the shipped entries."""
    examples = kb._retriever._ngrams.examples
    scorer, reference = NgramCosine(examples), OneTermAtATime(examples)
    questions = [
        *every_labelled_question(),
        *(example for entry in kb.entries.values() for example in entry.questions("en")),
        *(example for entry in kb.entries.values() for example in entry.questions("zh")),
    ]
    assert len(questions) > 1000
    for question in questions:
        grams = Counter(text.char_ngrams(text.normalize(question)))
        assert scorer.scores(grams) == reference.scores(grams), question


@pytest.mark.parametrize("question", ["", "???", "xyzzy qwerty", "证书", "renew renew renew"])
def test_ngram_scores_of_odd_questions_match_one_term_at_a_time(question: str) -> None:
    """Empty, unknown and repeated n-grams; owners whose examples are not next to each other."""
    examples = [
        (owner, Counter(text.char_ngrams(text.normalize(example))))
        for owner, example in [
            ("renewal", "How do I renew my certificate?"),
            ("expiry", "证书什么时候过期"),
            ("renewal", "证书怎么更新"),
            ("expiry", "When does my certificate expire?"),
        ]
    ]
    grams = Counter(text.char_ngrams(text.normalize(question)))
    assert NgramCosine(examples).scores(grams) == OneTermAtATime(examples).scores(grams)
