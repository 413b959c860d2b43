"""A linear classifier over the entries' example questions: the retrieval's discriminative signal.

BM25 and n-gram cosine ask "which examples share the most words with the question?". That treats
every shared word alike, so "参考号没有了" (lost-codes) sits close to "需要参考号吗"
(prerequisites): both are mostly about the reference number. A multinomial logistic regression
trained on the same examples learns which words *separate* the entries ("没有了", "lost", "new"
against "need", "before"), which is what decides the close pairs.

Features are the retrieval's own tokens (English stems after typo correction, Chinese unigrams
and bigrams) plus its character n-grams, weighted by sublinear TF-IDF. scikit-learn fits the
model (lbfgs, deterministic; about half a second for a thousand examples); the prediction is
computed here from the fitted arrays, a sparse dot product and a softmax, because scikit-learn's
per-call input checks would cost more than the retrieval itself. The output is a probability per
entry in [0, 1].
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from functools import lru_cache

import numpy as np
from sklearn.feature_extraction import DictVectorizer
from sklearn.feature_extraction.text import TfidfTransformer
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits


def features(terms: Iterable[str], grams: Iterable[str]) -> Counter[str]:
    """One sparse feature bag from the retrieval's word tokens and character n-grams."""
    bag: Counter[str] = Counter()
    for term in terms:
        bag["w " + term] += 1
    for gram in grams:
        bag["c " + gram] += 1
    return bag


class EntryClassifier:
    """Multinomial logistic regression from feature bags (see :func:`features`) to entry ids.

    ``regularization`` is the inverse regularisation strength (scikit-learn's ``C``).
    """

    def __init__(
        self, *, labelled: Sequence[tuple[str, Counter[str]]], regularization: float
    ) -> None:
        if len({entry_id for entry_id, _ in labelled}) < 2:
            raise ValueError("a classifier needs examples of at least two entries")
        if regularization <= 0:
            raise ValueError(f"regularization must be positive, got {regularization}")
        vectorizer = DictVectorizer()
        weighting = TfidfTransformer(sublinear_tf=True)
        matrix = weighting.fit_transform(vectorizer.fit_transform([bag for _, bag in labelled]))
        model = LogisticRegression(C=regularization, max_iter=5000)
        # One BLAS thread: the problem is small, and on a busy machine threads that wait for
        # each other made the fit ten times slower (0.6 s against 5 s on two cores).
        with threadpool_limits(limits=1):
            model.fit(matrix, [entry_id for entry_id, _ in labelled])
        # Prediction is done here by hand from the fitted arrays: scikit-learn's input checks
        # cost milliseconds per call, the arithmetic a few microseconds.
        self._labels: tuple[str, ...] = tuple(str(label) for label in model.classes_)
        self._index: dict[str, int] = dict(vectorizer.vocabulary_)
        self._idf: np.ndarray = np.asarray(weighting.idf_, dtype=np.float64)
        coef = np.asarray(model.coef_, dtype=np.float64)
        intercept = np.asarray(model.intercept_, dtype=np.float64)
        if len(self._labels) == 2:  # binary: one row z for the second class, p = softmax(0, z)
            coef = np.vstack([np.zeros_like(coef), coef])
            intercept = np.concatenate([np.zeros_like(intercept), intercept])
        self._coef: np.ndarray = coef
        self._intercept: np.ndarray = intercept

    def probabilities(self, terms: Iterable[str], grams: Iterable[str]) -> dict[str, float]:
        """Each entry's probability for a question's word tokens and n-grams; they sum to 1.

        Empty when the question shares no feature with any example: no evidence either way.
        """
        known = {
            self._index[name]: count
            for name, count in features(terms, grams).items()
            if name in self._index
        }
        if not known:
            return {}
        columns = np.fromiter(known, dtype=np.intp, count=len(known))
        counts = np.fromiter(known.values(), dtype=np.float64, count=len(known))
        weights = (1.0 + np.log(counts)) * self._idf[columns]  # sublinear TF-IDF
        weights /= np.linalg.norm(weights)
        logits = self._coef[:, columns] @ weights + self._intercept
        exponentials = np.exp(logits - logits.max())
        probabilities = exponentials / exponentials.sum()
        return {label: float(p) for label, p in zip(self._labels, probabilities, strict=True)}


@lru_cache(maxsize=16)
def trained(
    examples: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...], *, regularization: float
) -> EntryClassifier:
    """The classifier for ``(entry_id, word tokens, n-grams)`` examples, trained once per set.

    Knowledge bases built from the same entries (tests, the tuning script's grid) share it.
    """
    return EntryClassifier(
        labelled=[(entry_id, features(terms, grams)) for entry_id, terms, grams in examples],
        regularization=regularization,
    )
