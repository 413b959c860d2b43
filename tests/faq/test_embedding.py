"""The embedding signal (faq/embedding.py): the real model, its cache by digest, its mix."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from faq import embedding
from faq.knowledge import KnowledgeBase
from faq.retrieval import DEFAULT_PARAMS, RankingParams, Retriever, Signals, mix

EXAMPLES = [
    ("expiry", "When does my certificate expire?"),
    ("expiry", "How many days are left on my certificate?"),
    ("lost-codes", "I lost my reference number"),
    ("lost-codes", "Where do I find the authorization code again?"),
    ("usbkey-pin", "My USB key PIN is locked"),
    ("usbkey-pin", "I typed the wrong token PIN too many times"),
]
EMBEDDING_ONLY = RankingParams(embedding_weight=1.0, embedding_floor=0.3)
LEXICAL_ONLY = RankingParams()


def test_a_paraphrase_sharing_no_word_ranks_its_entry_first() -> None:
    # Chinese against English examples: not one token or n-gram in common.
    question = "证书快过期了"
    lexical = Retriever(examples=EXAMPLES, params=LEXICAL_ONLY)
    assert lexical.rank(question) == []
    semantic = Retriever(examples=EXAMPLES, params=EMBEDDING_ONLY)
    assert semantic.rank(question)[0].entry_id == "expiry"
    assert semantic.rank("我的U盾密码被锁住了")[0].entry_id == "usbkey-pin"


def test_similarities_are_the_cosine_with_the_nearest_example() -> None:
    retriever = Retriever(examples=EXAMPLES, params=EMBEDDING_ONLY)
    similarities = retriever.signals("When does my certificate expire?").similarities
    assert set(similarities) == {"expiry", "lost-codes", "usbkey-pin"}
    assert similarities["expiry"] == pytest.approx(1.0, abs=1e-5)  # its own example
    assert all(-1.0 <= value < 0.9 for key, value in similarities.items() if key != "expiry")


def test_mix_rescales_the_embedding_above_its_floor() -> None:
    signals = Signals(
        lexical={"a": 0.5},
        probabilities={},
        in_domain=True,
        similarities={"a": 0.2, "b": 0.8, "c": 0.5},
    )
    ranking = mix(
        signals,
        classifier_weight=0.0,
        off_domain_factor=0.5,
        embedding_weight=0.4,
        embedding_floor=0.5,
    )
    # a: 0.6 x 0.5 lexical, its cosine under the floor; b: 0.4 x (0.8 - 0.5) / 0.5; c: nothing.
    assert [(c.entry_id, round(c.score, 6)) for c in ranking] == [("a", 0.3), ("b", 0.24)]


def test_without_the_embedding_weight_no_model_is_built() -> None:
    retriever = Retriever(examples=EXAMPLES, params=LEXICAL_ONLY)
    assert retriever.signals("证书快过期了").similarities == {}


def test_the_examples_embedding_is_cached_by_digest(tmp_path: Path) -> None:
    Retriever(examples=EXAMPLES, params=EMBEDDING_ONLY, cache_dir=tmp_path)
    (kept,) = tmp_path.glob("faq-embeddings-*.npz")
    # Other examples, another digest, another file.
    Retriever(examples=EXAMPLES[:4], params=EMBEDDING_ONLY, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("faq-embeddings-*.npz"))) == 2
    # The next process reads the file instead of computing: vectors written there are used.
    embedding.clear_computed()
    with np.load(kept) as arrays:
        rows = arrays["vectors"].shape[0]
    np.savez(kept, vectors=np.zeros((rows, embedding.DIMENSIONS), dtype=np.float32))
    from_file = Retriever(examples=EXAMPLES, params=EMBEDDING_ONLY, cache_dir=tmp_path)
    assert set(from_file.signals("证书快过期了").similarities.values()) == {0.0}


def test_a_damaged_cache_file_is_computed_again(tmp_path: Path) -> None:
    Retriever(examples=EXAMPLES, params=EMBEDDING_ONLY, cache_dir=tmp_path)
    (kept,) = tmp_path.glob("faq-embeddings-*.npz")
    kept.write_bytes(b"not an npz")
    embedding.clear_computed()
    retriever = Retriever(examples=EXAMPLES, params=EMBEDDING_ONLY, cache_dir=tmp_path)
    assert retriever.rank("证书快过期了")[0].entry_id == "expiry"
    with np.load(kept) as arrays:
        assert arrays["vectors"].shape == (len(EXAMPLES), embedding.DIMENSIONS)


def test_the_ranking_is_the_same_with_or_without_the_cache(tmp_path: Path) -> None:
    assert DEFAULT_PARAMS.embedding_weight > 0  # the shipped ranking uses the signal
    questions = (
        "证书快过期了",
        "my cert is about to run out",
        "U盾 PIN 锁了",
        "what is the weather",
    )
    fresh = KnowledgeBase.load()
    KnowledgeBase.load(cache_dir=tmp_path)  # computes and writes the file
    assert list(tmp_path.glob("faq-embeddings-*.npz"))
    embedding.clear_computed()
    cached = KnowledgeBase.load(cache_dir=tmp_path)  # reads it
    for question in questions:
        assert cached.rank(question) == fresh.rank(question)
