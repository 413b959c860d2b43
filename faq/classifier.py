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

import hashlib
import json
import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from faq import npz

log = logging.getLogger(__name__)

CACHE_FORMAT = "certdesk-faq-classifier-1"


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

    Built by :meth:`fit` (scikit-learn) or :meth:`load` (a file :meth:`save` wrote, which needs
    no scikit-learn at all); the arrays are those of the fitted model.
    """

    def __init__(
        self,
        *,
        labels: Sequence[str],
        names: Sequence[str],
        idf: np.ndarray,
        coef: np.ndarray,
        intercept: np.ndarray,
    ) -> None:
        if len(labels) < 2 or coef.shape != (len(labels), len(names)):
            raise ValueError(f"coef has shape {coef.shape}, not ({len(labels)}, {len(names)})")
        if idf.shape != (len(names),) or intercept.shape != (len(labels),):
            raise ValueError("idf or intercept does not match the labels and features")
        self._labels = tuple(labels)
        self._index = {name: column for column, name in enumerate(names)}
        self._idf = idf
        self._coef = coef
        self._intercept = intercept

    @classmethod
    def fit(
        cls, *, labelled: Sequence[tuple[str, Counter[str]]], regularization: float
    ) -> EntryClassifier:
        """Fit on ``(entry_id, feature bag)`` pairs; ``regularization`` is scikit-learn's ``C``.

        Blocking, about half a second for a thousand examples.
        """
        if len({entry_id for entry_id, _ in labelled}) < 2:
            raise ValueError("a classifier needs examples of at least two entries")
        if regularization <= 0:
            raise ValueError(f"regularization must be positive, got {regularization}")
        # Imported here: scikit-learn takes a second or two to import, which a knowledge base
        # loaded from a saved model (or any `certdesk` command not asking questions) never pays.
        from sklearn.feature_extraction import DictVectorizer
        from sklearn.feature_extraction.text import TfidfTransformer
        from sklearn.linear_model import LogisticRegression
        from threadpoolctl import threadpool_limits

        vectorizer = DictVectorizer()
        weighting = TfidfTransformer(sublinear_tf=True)
        matrix = weighting.fit_transform(vectorizer.fit_transform([bag for _, bag in labelled]))
        model = LogisticRegression(C=regularization, max_iter=5000)
        # One BLAS thread: the problem is small, and on a busy machine threads that wait for
        # each other made the fit ten times slower (0.6 s against 5 s on two cores).
        with threadpool_limits(limits=1):
            model.fit(matrix, [entry_id for entry_id, _ in labelled])
        labels = [str(label) for label in model.classes_]
        coef = np.asarray(model.coef_, dtype=np.float64)
        intercept = np.asarray(model.intercept_, dtype=np.float64)
        if len(labels) == 2:  # binary: one row z for the second class, p = softmax(0, z)
            coef = np.vstack([np.zeros_like(coef), coef])
            intercept = np.concatenate([np.zeros_like(intercept), intercept])
        return cls(
            labels=labels,
            names=[str(name) for name in vectorizer.feature_names_],
            idf=np.asarray(weighting.idf_, dtype=np.float64),
            coef=coef,
            intercept=intercept,
        )

    def save(self, path: Path) -> None:
        """Write the model to ``path`` (``.npz``, no pickled objects), atomically."""
        npz.save(
            path,
            {
                "labels": np.array(self._labels),
                "names": np.array(list(self._index)),
                "idf": self._idf,
                "coef": self._coef,
                "intercept": self._intercept,
            },
            compressed=True,
        )

    @classmethod
    def load(cls, path: Path) -> EntryClassifier:
        """A model :meth:`save` wrote; ``OSError`` / ``ValueError`` for a missing or bad file."""
        with npz.opened(path) as arrays:
            return cls(
                labels=[str(label) for label in arrays["labels"]],
                names=[str(name) for name in arrays["names"]],
                idf=np.asarray(arrays["idf"], dtype=np.float64),
                coef=np.asarray(arrays["coef"], dtype=np.float64),
                intercept=np.asarray(arrays["intercept"], dtype=np.float64),
            )

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


Labelled = tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...]


def trained(
    examples: Labelled, *, regularization: float, cache_dir: Path | None = None
) -> EntryClassifier:
    """The classifier for ``(entry_id, word tokens, n-grams)`` examples, trained once per set.

    Knowledge bases built from the same entries in one process (tests, the tuning script's
    grid, a server rereading unchanged entries) share it, whatever their ``cache_dir``. With
    ``cache_dir`` the fitted model is also kept there, named by a digest of the examples and
    settings, so the next process loads it instead of fitting (and never imports scikit-learn);
    a missing or damaged file is simply fitted and written again.
    """
    path = None
    if cache_dir is not None:
        digest = hashlib.sha256(
            json.dumps([CACHE_FORMAT, regularization, examples], ensure_ascii=False).encode()
        ).hexdigest()[:32]
        path = cache_dir / f"faq-classifier-{digest}.npz"
        try:
            return EntryClassifier.load(path)
        except FileNotFoundError:
            pass
        except (OSError, ValueError) as error:
            log.warning("refitting the knowledge classifier: %s is unusable (%s)", path, error)
    classifier = _fitted(examples, regularization)
    if path is not None:
        try:
            classifier.save(path)
        except OSError as error:
            log.warning("could not keep the knowledge classifier in %s: %s", path, error)
    return classifier


@lru_cache(maxsize=16)
def _fitted(examples: Labelled, regularization: float) -> EntryClassifier:
    """Fitted once per example set and setting in a process (scikit-learn imported here)."""
    return EntryClassifier.fit(
        labelled=[(entry_id, features(terms, grams)) for entry_id, terms, grams in examples],
        regularization=regularization,
    )


def clear_fitted() -> None:
    """Forget the models fitted in this process (as a new process would start)."""
    _fitted.cache_clear()
