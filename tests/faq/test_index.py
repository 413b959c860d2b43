"""The retrieval index kept in the cache: loaded, it ranks exactly as a cold build; any changed
input names another file; a damaged file is rebuilt with a warning."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from faq import index
from faq.knowledge import KnowledgeBase, load_entries
from faq.retrieval import DEFAULT_PARAMS, FOREIGN_TERMS
from tests.faq.conftest import DATA, read_labelled

INPUTS: dict[str, object] = {
    "examples": [("renewal", "How do I renew?"), ("expiry", "When does it expire?")],
    "domain_terms": ["certificate", "证书"],
    "foreign_terms": list(FOREIGN_TERMS),
    "spelled": ["Renewal", "Your certificate expires on the date shown."],
    "params": DEFAULT_PARAMS,
}


def _questions(kb: KnowledgeBase) -> list[str]:
    labelled = [
        row.question for path in sorted(DATA.glob("*.jsonl")) for row in read_labelled(path.stem)
    ]
    own = [
        question
        for entry in kb.entries.values()
        for language in ("en", "zh")
        for question in entry.questions(language)
    ]
    return labelled + own


def _no_build(*_: object, **__: object) -> index.Index:
    raise AssertionError("the index was built, not loaded from the cache")


def test_index_from_the_cache_ranks_every_question_like_a_cold_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every labelled question and every entry's own example: the same signals, to the bit."""
    cold = KnowledgeBase.load()
    KnowledgeBase.load(cache_dir=tmp_path)  # builds and writes the file
    assert len(list(tmp_path.glob("faq-index-*.npz"))) == 1
    monkeypatch.setattr(index, "build", _no_build)
    warm = KnowledgeBase.load(cache_dir=tmp_path)
    for question in _questions(cold):
        assert warm.signals(question) == cold.signals(question), question
        assert warm.rank(question) == cold.rank(question), question


@pytest.mark.parametrize(
    ("field", "changed"),
    [
        ("examples", [("renewal", "How do I renew it?"), ("expiry", "When does it expire?")]),
        ("examples", [("renewal", "When does it expire?"), ("expiry", "How do I renew?")]),
        ("domain_terms", ["certificate"]),
        ("foreign_terms", ["ssh"]),
        ("spelled", ["Renewal"]),
        ("spelled", None),
        ("params", dataclasses.replace(DEFAULT_PARAMS, k1=1.0)),
    ],
)
def test_index_digest_changes_with_every_input(field: str, changed: object) -> None:
    before = index.digest(index.Sources(**INPUTS))  # type: ignore[arg-type]
    after = index.digest(index.Sources(**{**INPUTS, field: changed}))  # type: ignore[arg-type]
    assert after != before
    assert index.digest(index.Sources(**INPUTS)) == before  # type: ignore[arg-type]


def test_index_digest_changes_with_the_format_and_the_building_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = index.digest(index.Sources(**INPUTS))  # type: ignore[arg-type]
    monkeypatch.setattr(index, "INDEX_FORMAT", "certdesk-faq-index-0")
    assert index.digest(index.Sources(**INPUTS)) != before  # type: ignore[arg-type]
    monkeypatch.undo()
    edited = tmp_path / "text.py"
    edited.write_bytes(index._BUILDERS[1].read_bytes() + b"# edited\n")
    monkeypatch.setattr(index, "_BUILDERS", (*index._BUILDERS[:1], edited, *index._BUILDERS[2:]))
    assert index.digest(index.Sources(**INPUTS)) != before  # type: ignore[arg-type]


def test_changed_entry_reads_no_stale_index(tmp_path: Path) -> None:
    """An operator's changed example builds a new file, and ranks as a cold build of it."""
    entries = list(load_entries())
    KnowledgeBase(entries=entries, cache_dir=tmp_path)
    first = entries[0]
    english = first.texts["en"]
    questions = (*english.questions, "zorbified flux capacitor")
    texts = {**first.texts, "en": dataclasses.replace(english, questions=questions)}
    taught = dataclasses.replace(first, texts=texts)
    changed = [taught, *entries[1:]]
    warm = KnowledgeBase(entries=changed, cache_dir=tmp_path)
    cold = KnowledgeBase(entries=changed)
    assert len(list(tmp_path.glob("faq-index-*.npz"))) == 2
    assert warm.rank("zorbified flux capacitor") == cold.rank("zorbified flux capacitor")
    assert warm.rank("zorbified flux capacitor")[0].entry_id == first.id


def _damage_truncated(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:1000])


def _damage_garbage(path: Path) -> None:
    path.write_bytes(b"not an index")


def _damage_foreign(path: Path) -> None:
    """A readable .npz that is not this index (another digest in its document)."""
    document = b'{"format": "certdesk-faq-index-1", "digest": "0"}'
    np.savez(path, document=np.frombuffer(document, dtype=np.uint8))


def _damage_values(path: Path) -> None:
    with np.load(path, allow_pickle=False) as arrays:
        kept = {key: arrays[key] for key in arrays.files}
    kept["values"] = kept["values"][:-1]
    np.savez(path, **kept)


@pytest.mark.parametrize(
    "damage", [_damage_truncated, _damage_garbage, _damage_foreign, _damage_values]
)
def test_damaged_index_file_is_rebuilt_with_a_warning(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    damage: Callable[[Path], None],
) -> None:
    kb = KnowledgeBase.load(cache_dir=tmp_path)
    [saved] = tmp_path.glob("faq-index-*.npz")
    damage(saved)
    rebuilt = KnowledgeBase.load(cache_dir=tmp_path)
    assert "rebuilding the knowledge index" in caplog.text
    question = "how do I renew my certificate"
    assert rebuilt.rank(question) == kb.rank(question)
    monkeypatch.setattr(index, "build", _no_build)  # the rewritten file is whole again
    assert KnowledgeBase.load(cache_dir=tmp_path).rank(question) == kb.rank(question)
