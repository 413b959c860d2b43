"""The logistic-regression signal: what it learns, and that its hand-written prediction is
scikit-learn's."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.feature_extraction import DictVectorizer
from sklearn.feature_extraction.text import TfidfTransformer
from sklearn.linear_model import LogisticRegression

from faq import text
from faq.classifier import EntryClassifier, clear_fitted, features, trained

# Both entries are about the reference number; only a few words tell them apart.
EXAMPLES = (
    ("lost-codes", "I lost my reference number"),
    ("lost-codes", "reference number is gone"),
    ("lost-codes", "参考号丢了"),
    ("lost-codes", "参考号找不到了"),
    ("prerequisites", "do I need the reference number"),
    ("prerequisites", "what do I need before downloading, a reference number?"),
    ("prerequisites", "需要参考号吗"),
    ("prerequisites", "下载前需要参考号"),
)


def _bag(question: str) -> tuple[list[str], list[str]]:
    normalized = text.normalize(question)
    return text.word_tokens(normalized), text.char_ngrams(normalized)


def _labelled(
    examples: tuple[tuple[str, str], ...],
) -> tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...]:
    labelled = []
    for entry_id, question in examples:
        terms, grams = _bag(question)
        labelled.append((entry_id, tuple(terms), tuple(grams)))
    return tuple(labelled)


@pytest.fixture(scope="module")
def classifier() -> EntryClassifier:
    return trained(_labelled(EXAMPLES), regularization=30.0)


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("my reference number got lost", "lost-codes"),
        ("我的参考号丢了", "lost-codes"),
        ("is a reference number needed", "prerequisites"),
        ("需要什么参考号", "prerequisites"),
    ],
)
def test_classifier_tells_apart_entries_that_share_their_topic_word(
    classifier: EntryClassifier, question: str, expected: str
) -> None:
    probabilities = classifier.probabilities(*_bag(question))
    assert max(probabilities, key=probabilities.__getitem__) == expected
    assert math.isclose(sum(probabilities.values()), 1.0)
    assert all(0.0 <= p <= 1.0 for p in probabilities.values())


def test_classifier_without_any_known_feature_gives_no_evidence(
    classifier: EntryClassifier,
) -> None:
    assert classifier.probabilities(*_bag("zzz qqq")) == {}
    assert classifier.probabilities([], []) == {}


THREE_ENTRIES = (
    *EXAMPLES,
    ("renewal", "how do I renew my certificate"),
    ("renewal", "证书怎么续期"),
)


@pytest.mark.parametrize("examples", [EXAMPLES, THREE_ENTRIES], ids=["binary", "multinomial"])
def test_classifier_prediction_equals_scikit_learns(
    examples: tuple[tuple[str, str], ...],
) -> None:
    """The hand-written TF-IDF + softmax gives scikit-learn's own predict_proba."""
    classifier = trained(_labelled(examples), regularization=30.0)
    bags = [features(*_bag(q)) for _, q in examples]
    vectorizer, weighting = DictVectorizer(), TfidfTransformer(sublinear_tf=True)
    matrix = weighting.fit_transform(vectorizer.fit_transform(bags))
    model = LogisticRegression(C=30.0, max_iter=5000).fit(matrix, [e for e, _ in examples])
    for question in ("lost reference number number number", "参考号需要吗", "renew reference"):
        expected = model.predict_proba(
            weighting.transform(vectorizer.transform([features(*_bag(question))]))
        )[0]
        got = classifier.probabilities(*_bag(question))
        assert np.allclose([got[str(label)] for label in model.classes_], expected, atol=1e-9)


def test_trained_reuses_the_model_for_the_same_examples() -> None:
    examples = _labelled(EXAMPLES)
    assert trained(examples, regularization=30.0) is trained(examples, regularization=30.0)
    assert trained(examples, regularization=30.0) is not trained(examples, regularization=10.0)


def test_classifier_refuses_a_single_entry_and_a_bad_regularization() -> None:
    one = [("a", features(["renew"], ["<re"])), ("a", features(["expir"], ["<ex"]))]
    with pytest.raises(ValueError, match="at least two entries"):
        EntryClassifier.fit(labelled=one, regularization=1.0)
    two = [("a", features(["renew"], [])), ("b", features(["expir"], []))]
    with pytest.raises(ValueError, match="regularization must be positive"):
        EntryClassifier.fit(labelled=two, regularization=0.0)


def test_trained_keeps_the_model_in_the_cache_and_loads_it_unchanged(tmp_path: Path) -> None:
    examples = _labelled(THREE_ENTRIES)
    fitted = trained(examples, regularization=30.0, cache_dir=tmp_path)
    [saved] = tmp_path.glob("faq-classifier-*.npz")
    loaded = EntryClassifier.load(saved)
    for question in ("lost reference number", "证书怎么续期", "need a reference number"):
        assert loaded.probabilities(*_bag(question)) == fitted.probabilities(*_bag(question))
    other = trained(examples[:-1], regularization=30.0, cache_dir=tmp_path)
    assert other is not fitted
    assert len(list(tmp_path.glob("faq-classifier-*.npz"))) == 2  # named by the examples


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_trained_refits_over_a_damaged_cache_file(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, damage: str
) -> None:
    examples = _labelled(EXAMPLES[:-1])
    trained(examples, regularization=30.0, cache_dir=tmp_path)
    [saved] = tmp_path.glob("faq-classifier-*.npz")
    whole = saved.read_bytes()
    # A truncated file still starts like a zip archive (a write cut off by a full disk or a kill).
    saved.write_bytes(b"not a model" if damage == "garbage" else whole[: len(whole) // 2])
    clear_fitted()  # as a new process would
    classifier = trained(examples, regularization=30.0, cache_dir=tmp_path)
    assert "unusable" in caplog.text
    assert EntryClassifier.load(saved).probabilities(*_bag("lost")) == classifier.probabilities(
        *_bag("lost")
    )


def test_knowledge_base_from_the_cache_does_not_import_scikit_learn(tmp_path: Path) -> None:
    """The point of the cache: a `certdesk ask` after the first skips the fit and the import."""
    script = (
        "import sys; from pathlib import Path; from faq.knowledge import KnowledgeBase; "
        f"kb = KnowledgeBase.load(cache_dir=Path({str(tmp_path)!r})); "
        "print(kb.ask('how do I renew my certificate').id, 'sklearn' in sys.modules)"
    )
    first = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    second = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert first.stdout.split() == ["renewal", "True"]
    assert second.stdout.split() == ["renewal", "False"]
