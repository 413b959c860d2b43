"""The data directory's files and their modes: the directory 0700, the database, its SQLite
-wal/-shm files and the secret key 0600, whatever the umask.

What certdesk creates it tightens; a directory the operator made with looser modes is only
warned about (it may be shared on purpose). The secret key is written to a temporary file,
flushed to disk, then linked into place, so a process starting at the same moment reads
either no key or the whole key, never half of one.
"""

from __future__ import annotations

import logging
import os
import secrets
import stat
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

DIRECTORY_MODE = 0o700
FILE_MODE = 0o600
SECRET_KEY_FILE = "secret.key"  # noqa: S105 (a file name)
SECRET_KEY_BYTES = 32
SQLITE_SUFFIXES = ("", "-wal", "-shm", "-journal")


def prepare_data_dir(data_dir: Path, *, database_url: str | None = None) -> None:
    """Create ``data_dir`` 0700 (warn when it exists and others may read it); create the
    embedded SQLite database 0600 before SQLite does, and tighten the database files and the
    secret key certdesk made with looser modes."""
    if data_dir.is_dir():
        mode = stat.S_IMODE(data_dir.stat().st_mode)
        if mode & 0o077:
            log.warning(
                "the data directory is readable by other users: run `chmod 700` on it",
                extra={"data_dir": str(data_dir), "mode": oct(mode)},
            )
    else:
        data_dir.mkdir(parents=True, exist_ok=True, mode=DIRECTORY_MODE)
        os.chmod(data_dir, DIRECTORY_MODE)  # mkdir's mode is filtered by the umask
    database = sqlite_path(database_url) if database_url else None
    if database is not None:
        database.parent.mkdir(parents=True, exist_ok=True, mode=DIRECTORY_MODE)
        # SQLite gives its -wal and -shm files the database file's mode.
        os.close(os.open(database, os.O_WRONLY | os.O_CREAT, FILE_MODE))
        for suffix in SQLITE_SUFFIXES:
            tighten(database.with_name(database.name + suffix))
    tighten(data_dir / SECRET_KEY_FILE)


def tighten(path: Path) -> None:
    """Make ``path`` 0600 if it exists with looser modes."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return
    if mode & 0o077:
        os.chmod(path, mode & ~0o077)


def sqlite_path(database_url: str) -> Path | None:
    """The file of a ``sqlite…:///path`` URL; None for other databases and in-memory ones."""
    if not database_url.startswith("sqlite"):
        return None
    _, _, rest = database_url.partition(":///")
    path = rest.split("?", 1)[0]
    if not path or path == ":memory:" or path.startswith("file:"):
        return None
    return Path(path)


def read_or_create_secret_key(data_dir: Path) -> bytes:
    """The secret key in ``data_dir``, made (32 random bytes, 0600) when there is none yet.

    Concurrent first starts agree: each writes its candidate to a temporary file, fsyncs it,
    and links it to the final name; the first link wins and every process reads that file.
    """
    path = data_dir / SECRET_KEY_FILE
    if not path.exists():
        prepare_data_dir(data_dir)
        fd, temporary = tempfile.mkstemp(prefix=".secret.key.", dir=data_dir)
        try:
            with os.fdopen(fd, "wb") as handle:  # mkstemp makes it 0600
                handle.write(secrets.token_bytes(SECRET_KEY_BYTES))
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(temporary, path)  # fails if another process linked first
            except FileExistsError:
                pass
            else:
                sync_directory(data_dir)
        finally:
            os.unlink(temporary)
    return path.read_bytes()


def sync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
