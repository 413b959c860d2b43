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
from typing import TYPE_CHECKING

from bot.settings import SERVED_URL_FILE
from common.errors import CertdeskError
from enrollment.codes import Pepper
from enrollment.files import replace_file

if TYPE_CHECKING:
    from bot.settings import Settings

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


class DataDirMissing(CertdeskError, code="data_dir_missing", status=409):
    """A command that must not create certdesk's data found none where it looked."""


def missing_data(
    data_dir: Path, *, database_url: str, needs_ca: str | None, needs_secret_key: bool
) -> list[str]:
    """What of certdesk's data is absent from ``data_dir``: the embedded database, the CA
    (``needs_ca`` names its sub-directory) and the secret key, as short phrases."""
    missing: list[str] = []
    database = sqlite_path(database_url)
    if not data_dir.is_dir() and (database is not None or needs_ca or needs_secret_key):
        return ["the directory itself"]
    if database is not None and not database.exists():
        missing.append(f"the database {database.name}")
    if needs_ca is not None and not (data_dir / needs_ca / "issuing.pem").exists():
        missing.append(f"the CA ({needs_ca}/issuing.pem)")
    if needs_secret_key and not (data_dir / SECRET_KEY_FILE).exists():
        missing.append(f"the secret key ({SECRET_KEY_FILE})")
    return missing


def require_existing_data(
    data_dir: Path, *, database_url: str, needs_ca: str | None, needs_secret_key: bool
) -> None:
    """Refuse (:class:`DataDirMissing`) when ``data_dir`` lacks data the command would
    otherwise create: a second CA, database or secret key beside the real ones would hand out
    links and certificates the running server does not know."""
    missing = missing_data(
        data_dir,
        database_url=database_url,
        needs_ca=needs_ca,
        needs_secret_key=needs_secret_key,
    )
    if missing:
        raise DataDirMissing(
            f"no certdesk data in {data_dir.resolve()} (missing: {', '.join(missing)}), and "
            "this command does not create any. Point it at the server's data directory with "
            "CERTDESK_DATA_DIR=/path/to/data (or run it from the directory that holds ./var); "
            "to set up a new installation there, run `certdesk init`."
        )


def record_served_url(data_dir: Path, url: str) -> None:
    """Write the URL `certdesk serve` answers on, for the commands run beside it."""
    replace_file(data_dir / SERVED_URL_FILE, f"{url}\n".encode(), mode=FILE_MODE)


def ca_directory(settings: Settings) -> Path:
    """Where the CA's files are (and the delegated OCSP signer's, ``ocsp-signer.pem``)."""
    return Path(settings.data_dir) / ("ca-hsm" if settings.ca_pkcs11_module else "ca")


def require_data(settings: Settings, *, needs_ca: bool = True) -> None:
    """:class:`bot.datadir.DataDirMissing` unless the data directory holds the database (when
    embedded), the CA (when ``needs_ca``) and the secret key (when not in the environment)."""
    require_existing_data(
        settings.data_dir,
        database_url=settings.database_url,
        needs_ca=ca_directory(settings).name if needs_ca else None,
        needs_secret_key=needs_ca and settings.secret_key is None,
    )


def load_pepper(settings: Settings) -> Pepper:
    """CERTDESK_SECRET_KEY if set (several processes must share it; its length is checked when
    the settings are read), else a key file."""
    if settings.secret_key is not None:
        return Pepper(settings.secret_key.get_secret_value().encode())
    return Pepper(read_or_create_secret_key(settings.data_dir))
