"""The two overlap scorers the retriever mixes (:mod:`faq.retrieval`): BM25 over bags of terms,
and the TF-IDF cosine of character n-grams. Pure: plain data in, scores in [0, 1] out."""

from __future__ import annotations

import itertools
import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

Key = TypeVar("Key", str, int)


@dataclass(slots=True)
class Bm25(Generic[Key]):
    """BM25 over one bag of terms per document, normalised to [0, 1] per question."""

    k1: float
    b: float
    term_freqs: dict[Key, Counter[str]]
    postings: dict[str, list[Key]] = field(init=False)
    idf: dict[str, float] = field(init=False)
    length_norm: dict[Key, float] = field(init=False)
    unseen_idf: float = field(init=False)

    def __post_init__(self) -> None:
        count = len(self.term_freqs)
        lengths = {key: sum(freqs.values()) for key, freqs in self.term_freqs.items()}
        average = sum(lengths.values()) / count if count else 1.0
        document_freq: Counter[str] = Counter()
        postings: defaultdict[str, list[Key]] = defaultdict(list)
        for key, freqs in self.term_freqs.items():
            document_freq.update(freqs.keys())
            for term in freqs:
                postings[term].append(key)
        self.postings = dict(postings)
        self.idf = {term: _bm25_idf(count, df) for term, df in document_freq.items()}
        self.unseen_idf = _bm25_idf(count, 0)
        k1, b = self.k1, self.b
        self.length_norm = {
            key: k1 * (1 - b + b * length / average) for key, length in lengths.items()
        }

    def scores(self, terms: Iterable[str]) -> dict[Key, float]:
        unique = set(terms)
        if not unique:
            return {}
        saturation = self.k1 + 1
        ceiling = sum(self.idf.get(term, self.unseen_idf) for term in unique) * saturation
        raw: defaultdict[Key, float] = defaultdict(float)
        for term in unique:
            keys = self.postings.get(term)
            if keys is None:
                continue
            idf = self.idf[term]
            for key in keys:
                tf = self.term_freqs[key][term]
                raw[key] += idf * tf * saturation / (tf + self.length_norm[key])
        return {key: value / ceiling for key, value in raw.items()}


def _bm25_idf(count: int, df: int) -> float:
    return math.log(1 + (count - df + 0.5) / (df + 0.5))


@dataclass(slots=True)
class NgramCosine:
    """TF-IDF cosine between the question and each example; an entry keeps its best example.

    Each n-gram's column (the examples that have it, and their normalised weights) is a pair of
    NumPy arrays, built once: a question's dot products are one ``bincount`` over the columns
    of its n-grams, taken in the question's n-gram order, so every example's sum is added up in
    the same order as one term at a time in Python would, to the same bits
    (``tests/faq/test_ngram_scores.py``); then one ``maximum.reduceat`` keeps each entry's best.
    """

    examples: list[tuple[str, Counter[str]]]
    idf: dict[str, float] = field(init=False)
    unseen_idf: float = field(init=False)
    columns: dict[str, tuple[NDArray[np.intp], NDArray[np.float64]]] = field(init=False)
    owners: list[str] = field(init=False)
    _by_owner: NDArray[np.intp] = field(init=False)  # example indices, grouped by owner
    _owner_starts: NDArray[np.intp] = field(init=False)  # where each owner's group starts
    _owner_ids: tuple[str, ...] = field(init=False)  # the owner of each group

    def __post_init__(self) -> None:
        import numpy as np

        count = len(self.examples)
        document_freq: Counter[str] = Counter()
        for _, grams in self.examples:
            document_freq.update(grams.keys())
        self.idf = {
            gram: math.log((count + 1) / (df + 1)) + 1 for gram, df in document_freq.items()
        }
        self.unseen_idf = math.log(count + 1) + 1
        postings: defaultdict[str, tuple[list[int], list[float]]] = defaultdict(lambda: ([], []))
        self.owners = []
        groups: dict[str, list[int]] = {}
        for index, (owner, grams) in enumerate(self.examples):
            self.owners.append(owner)
            groups.setdefault(owner, []).append(index)
            weights = {gram: tf * self.idf[gram] for gram, tf in grams.items()}
            norm = math.sqrt(sum(weight * weight for weight in weights.values())) or 1.0
            for gram, weight in weights.items():
                indices, values = postings[gram]
                indices.append(index)
                values.append(weight / norm)
        self.columns = {
            gram: (np.array(indices, dtype=np.intp), np.array(values, dtype=np.float64))
            for gram, (indices, values) in postings.items()
        }
        self._owner_ids = tuple(groups)
        self._by_owner = np.array(
            [index for indices in groups.values() for index in indices], dtype=np.intp
        )
        sizes = [len(indices) for indices in groups.values()]
        self._owner_starts = np.array([0, *itertools.accumulate(sizes)][:-1], dtype=np.intp)

    def scores(self, grams: Counter[str]) -> dict[str, float]:
        import numpy as np

        if not grams:
            return {}
        query = {gram: tf * self.idf.get(gram, self.unseen_idf) for gram, tf in grams.items()}
        norm = math.sqrt(sum(weight * weight for weight in query.values()))
        hits = [
            (self.columns[gram], weight) for gram, weight in query.items() if gram in self.columns
        ]
        if not hits:
            return {}
        dots = np.bincount(
            np.concatenate([indices for (indices, _), _ in hits]),
            weights=np.concatenate([weight * values for (_, values), weight in hits]),
            minlength=len(self.owners),
        )
        best = np.maximum.reduceat((dots / norm)[self._by_owner], self._owner_starts)
        return {
            owner: value
            for owner, value in zip(self._owner_ids, best.tolist(), strict=True)
            if value > 0.0
        }
