"""Files certdesk writes whole or not at all: its TLS key and chain, the OCSP signer's pair, the
URL `certdesk serve` records, a knowledge entry taught from the command line."""

from __future__ import annotations

import os
import tempfile
from contextlib import suppress
from pathlib import Path


def replace_file(path: Path, data: bytes, *, mode: int) -> None:
    """Put ``data`` at ``path`` whole or not at all, with permissions ``mode``: written to a
    temporary file beside it (0600 until it is complete), flushed to disk, renamed over it.
    A reader sees the old file or the new one, never a part."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
