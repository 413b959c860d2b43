"""Files certdesk writes whole or not at all (its TLS pair, the OCSP signer's pair, the URL
`certdesk serve` records, a knowledge entry taught from the command line), and what lets
several processes share one: an exclusive lock around a change, and a snapshot to read from.
Standard library only; blocking."""

from __future__ import annotations

import fcntl
import glob
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

SNAPSHOT_MARK = ".loading-"
SNAPSHOT_ATTEMPTS = 100


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


@contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on the lock file ``path`` (made 0600 if missing, never
    removed: removing it would let two holders lock two files). Waits for another holder,
    in any process; released when the block ends, or when the process dies."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def snapshot_path(path: Path, pid: int) -> Path:
    return path.with_name(f".{path.name}{SNAPSHOT_MARK}{pid}")


@contextmanager
def snapshot(path: Path) -> Iterator[Path]:
    """This process's own name for the file at ``path`` as it is now: a hard link
    ``.NAME.loading-PID`` beside it, removed when the block ends. A rename over ``path``
    meanwhile changes what ``path`` names, not the file the link names, so a reader that opens
    the snapshot several times (OpenSSL opens a chain file once for the chain, once more for
    the key) reads one version throughout."""
    link = snapshot_path(path, os.getpid())
    with suppress(FileNotFoundError):
        link.unlink()  # left by an earlier process that had this process's id
    for attempt in range(SNAPSHOT_ATTEMPTS):
        try:
            os.link(path, link)
            break
        except FileNotFoundError:
            # Linux refuses to link a file that a rename has just replaced (its last name
            # gone): the name is there again, for the new file. Not there at all: raise.
            if attempt == SNAPSHOT_ATTEMPTS - 1 or not path.exists():
                raise
    try:
        yield link
    finally:
        with suppress(FileNotFoundError):
            link.unlink()


def remove_stale_snapshots(path: Path) -> list[Path]:
    """Remove the snapshots of ``path`` whose process is no longer running (a process killed
    while loading); returns them. Process ids are this host's: processes on other hosts that
    share the directory would have their snapshots removed too, so share it on one host only."""
    removed: list[Path] = []
    pattern = f".{glob.escape(path.name)}{SNAPSHOT_MARK}*"
    for candidate in path.parent.glob(pattern):
        pid = candidate.name.rpartition(SNAPSHOT_MARK)[2]
        if not pid.isdigit() or int(pid) == os.getpid() or _running(int(pid)):
            continue
        with suppress(FileNotFoundError):
            candidate.unlink()
            removed.append(candidate)
    return removed


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True
