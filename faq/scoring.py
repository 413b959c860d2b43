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


@dataclass(frozen=True, slots=True, kw_only=True)
class NgramColumns:
    """The n-gram cosine's built index as flat arrays: n-gram ``grams[i]`` has IDF ``idf[i]``
    and its column (the examples that have it, their normalised weights) is
    ``indices[starts[i]:starts[i + 1]]`` / ``values[...]``; ``starts`` ends with the total."""

    grams: tuple[str, ...]
    idf: NDArray[np.float64]
    starts: NDArray[np.intp]
    indices: NDArray[np.intp]
    values: NDArray[np.float64]

    def __post_init__(self) -> None:
        count = len(self.grams)
        if self.idf.shape != (count,) or self.starts.shape != (count + 1,):
            raise ValueError(f"idf or starts does not match the {count} n-grams")
        if self.indices.shape != self.values.shape or self.indices.ndim != 1:
            raise ValueError("indices and values differ in shape")
        if count and (self.starts[0] != 0 or self.starts[-1] != len(self.indices)):
            raise ValueError("starts do not cover the columns")


class NgramCosine:
    """TF-IDF cosine between the question and each example; an entry keeps its best example.

    Each n-gram's column (the examples that have it, and their normalised weights) is a slice
    of two flat NumPy arrays (:class:`NgramColumns`), built once from the examples or handed
    in as ``columns`` (a saved index, :mod:`faq.index`): a question's dot products are one
    ``bincount`` over the columns of its n-grams, taken in the question's n-gram order, so
    every example's sum is added up in the same order as one term at a time in Python would,
    to the same bits (``tests/faq/test_ngram_scores.py``); then one ``maximum.reduceat`` keeps
    each entry's best.
    """

    __slots__ = (
        "_by_owner",
        "_columns",
        "_idf",
        "_owner_ids",
        "_owner_starts",
        "_spans",
        "examples",
        "owners",
        "unseen_idf",
    )

    def __init__(
        self, examples: list[tuple[str, Counter[str]]], *, columns: NgramColumns | None = None
    ) -> None:
        import numpy as np

        self.examples = examples
        count = len(examples)
        self.unseen_idf = math.log(count + 1) + 1
        if columns is None:
            columns = _columns(examples)
        elif len(columns.indices) and int(columns.indices.max()) >= count:
            raise ValueError(f"the n-gram columns name examples beyond the {count} given")
        self._columns = columns
        self._idf = dict(zip(columns.grams, columns.idf.tolist(), strict=True))
        starts = columns.starts.tolist()
        self._spans = {gram: (starts[i], starts[i + 1]) for i, gram in enumerate(columns.grams)}
        self.owners = [owner for owner, _ in examples]
        groups: dict[str, list[int]] = {}
        for index, owner in enumerate(self.owners):
            groups.setdefault(owner, []).append(index)
        self._owner_ids = tuple(groups)
        self._by_owner = np.array(
            [index for indices in groups.values() for index in indices], dtype=np.intp
        )
        sizes = [len(indices) for indices in groups.values()]
        self._owner_starts = np.array([0, *itertools.accumulate(sizes)][:-1], dtype=np.intp)

    @property
    def columns(self) -> NgramColumns:
        return self._columns

    def scores(self, grams: Counter[str]) -> dict[str, float]:
        import numpy as np

        if not grams:
            return {}
        idf, spans = self._idf, self._spans
        query = {gram: tf * idf.get(gram, self.unseen_idf) for gram, tf in grams.items()}
        norm = math.sqrt(sum(weight * weight for weight in query.values()))
        hits = [(spans[gram], weight) for gram, weight in query.items() if gram in spans]
        if not hits:
            return {}
        indices, values = self._columns.indices, self._columns.values
        dots = np.bincount(
            np.concatenate([indices[start:stop] for (start, stop), _ in hits]),
            weights=np.concatenate([weight * values[start:stop] for (start, stop), weight in hits]),
            minlength=len(self.owners),
        )
        best = np.maximum.reduceat((dots / norm)[self._by_owner], self._owner_starts)
        return {
            owner: value
            for owner, value in zip(self._owner_ids, best.tolist(), strict=True)
            if value > 0.0
        }


def _columns(examples: list[tuple[str, Counter[str]]]) -> NgramColumns:
    import numpy as np

    count = len(examples)
    document_freq: Counter[str] = Counter()
    for _, grams in examples:
        document_freq.update(grams.keys())
    idf = {gram: math.log((count + 1) / (df + 1)) + 1 for gram, df in document_freq.items()}
    postings: defaultdict[str, tuple[list[int], list[float]]] = defaultdict(lambda: ([], []))
    for index, (_, grams) in enumerate(examples):
        weights = {gram: tf * idf[gram] for gram, tf in grams.items()}
        norm = math.sqrt(sum(weight * weight for weight in weights.values())) or 1.0
        for gram, weight in weights.items():
            indices, values = postings[gram]
            indices.append(index)
            values.append(weight / norm)
    names = tuple(postings)
    return NgramColumns(
        grams=names,
        idf=np.array([idf[gram] for gram in names], dtype=np.float64),
        starts=np.array(
            [0, *itertools.accumulate(len(postings[gram][0]) for gram in names)], dtype=np.intp
        ),
        indices=np.array([index for gram in names for index in postings[gram][0]], dtype=np.intp),
        values=np.array([value for gram in names for value in postings[gram][1]], dtype=np.float64),
    )
