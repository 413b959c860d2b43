"""The knowledge caches' file format: ``.npz`` archives of plain arrays, never pickled objects
(a cache directory must not become a way to run code), written atomically and read back with
every kind of damage reported as one ``ValueError``.

Used by the fitted classifier (:mod:`faq.classifier`) and the retrieval index (:mod:`faq.index`);
the parsed entry tables (:mod:`faq.tables`) are JSON, written the same atomic way.
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from numpy.lib.npyio import NpzFile


def save(path: Path, arrays: Mapping[str, Any], *, compressed: bool = False) -> None:
    """Write ``arrays`` to ``path`` atomically: a reader sees the old file or the whole new one."""
    _written_atomically(
        path, lambda handle: (np.savez_compressed if compressed else np.savez)(handle, **arrays)
    )


def replace_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` as :func:`save` writes its arrays: the old file or the new."""
    _written_atomically(path, lambda handle: handle.write(data))


def _written_atomically(path: Path, write: Callable[[BinaryIO], object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, suffix=f"{path.suffix}.tmp")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            write(handle)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


@contextmanager
def opened(path: Path) -> Iterator[NpzFile]:
    """The archive at ``path``; ``OSError`` when it cannot be read, ``ValueError`` when it is no
    archive of plain arrays, is truncated or damaged, or lacks a member the caller asks for."""
    try:
        with path.open("rb") as handle:  # np.load leaves its own file open on some errors
            arrays = np.load(handle, allow_pickle=False)
            if not isinstance(arrays, NpzFile):
                raise ValueError(f"{path} is not an .npz archive")
            with arrays:
                yield arrays
    except KeyError as error:
        raise ValueError(f"{path} lacks {error}") from None
    except (EOFError, zipfile.BadZipFile) as error:  # truncated: it still starts like a zip
        raise ValueError(f"{path} is damaged: {error}") from None
