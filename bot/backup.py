"""Back up and restore what a certdesk installation cannot lose: the CA directory (keys and
certificates), the secret key that peppers every stored code and token hash, and the embedded
SQLite database (copied with SQLite's online backup API, so a running server may keep
writing). A PostgreSQL database is backed up with ``pg_dump`` instead (docs/deploy.md); the
archive then says so and holds the rest.

The archive is a gzip'd tar, written 0600 (it holds private keys), with a ``manifest.json``.
Restore writes only into a data directory that holds no certdesk data yet, and only the
names an archive made here may contain.
"""

from __future__ import annotations

import io
import json
import os
import sqlite3
import tarfile
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from bot.datadir import (
    DIRECTORY_MODE,
    FILE_MODE,
    SECRET_KEY_FILE,
    prepare_data_dir,
    sqlite_path,
)
from common.errors import CertdeskError

MANIFEST = "manifest.json"
DATABASE = "certdesk.db"
CA_DIRECTORIES = ("ca", "ca-hsm")
FORMAT = 1


class BackupError(CertdeskError, code="backup_failed"): ...


@dataclass(frozen=True, slots=True, kw_only=True)
class BackupReport:
    archive: Path
    members: list[str]
    database: str
    """``sqlite`` (in the archive) or ``external`` (back it up with pg_dump)."""
    secret_key_in_environment: bool


def _add_bytes(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = FILE_MODE
    archive.addfile(info, io.BytesIO(data))


def _sqlite_copy(database: Path, target: Path) -> None:
    """A consistent copy of ``database`` while others may write it (SQLite's backup API)."""
    source = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        copy = sqlite3.connect(target)
        try:
            source.backup(copy)
        finally:
            copy.close()
    except sqlite3.DatabaseError as exc:
        raise BackupError(
            f"cannot copy the database {database} ({exc}); nothing was written. If the file is "
            "damaged, restore it from an earlier backup (certdesk restore FILE)"
        ) from None
    finally:
        source.close()


def create_backup(
    *, data_dir: Path, database_url: str, archive: Path, secret_key_in_environment: bool
) -> BackupReport:
    """Write ``archive`` from ``data_dir``. Blocking."""
    database = sqlite_path(database_url)
    ca_dirs = [name for name in CA_DIRECTORIES if (data_dir / name / "issuing.pem").exists()]
    if not ca_dirs:
        raise BackupError(
            f"{data_dir.resolve()} holds no CA (ca/issuing.pem): point CERTDESK_DATA_DIR at the "
            "server's data directory"
        )
    if database is not None and not database.exists():
        raise BackupError(f"the database {database} does not exist: check CERTDESK_DATA_DIR")
    members: list[str] = []
    # Written beside the archive and renamed at the end: a failed backup leaves no half archive
    # and never truncates an earlier one of the same name.
    partial = archive.with_name(f".{archive.name}.partial")
    try:
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as handle, tarfile.open(fileobj=handle, mode="w:gz") as tar:
            for name in ca_dirs:
                for path in sorted((data_dir / name).iterdir()):
                    if path.is_file() and not path.name.startswith("."):
                        member = f"{name}/{path.name}"
                        tar.add(path, arcname=member, recursive=False)
                        members.append(member)
            key = data_dir / SECRET_KEY_FILE
            if key.exists():
                tar.add(key, arcname=SECRET_KEY_FILE)
                members.append(SECRET_KEY_FILE)
            if database is not None:
                with tempfile.TemporaryDirectory(dir=data_dir) as scratch:
                    copy = Path(scratch) / DATABASE
                    _sqlite_copy(database, copy)
                    tar.add(copy, arcname=DATABASE)
                members.append(DATABASE)
            manifest: dict[str, Any] = {
                "format": FORMAT,
                "members": members,
                "database": "sqlite" if database is not None else "external",
                "secret_key_in_environment": secret_key_in_environment,
            }
            _add_bytes(tar, MANIFEST, json.dumps(manifest, indent=2).encode())
        os.replace(partial, archive)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return BackupReport(
        archive=archive,
        members=members,
        database=manifest["database"],
        secret_key_in_environment=secret_key_in_environment,
    )


def _allowed(name: str) -> bool:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts:
        return False
    if name in (SECRET_KEY_FILE, DATABASE, MANIFEST):
        return True
    return len(path.parts) == 2 and path.parts[0] in CA_DIRECTORIES


def restore_backup(*, archive: Path, data_dir: Path, database_url: str) -> list[str]:
    """Unpack ``archive`` into ``data_dir``, which must hold no CA, secret key or database
    yet. Returns the restored names. Blocking."""
    try:
        with tarfile.open(archive, mode="r:gz") as tar:
            return _restore(tar, archive=archive, data_dir=data_dir, database_url=database_url)
    except (EOFError, tarfile.TarError, zlib.error) as exc:
        raise BackupError(f"cannot read {archive} as a certdesk backup: {exc}") from None


def _restore(
    tar: tarfile.TarFile, *, archive: Path, data_dir: Path, database_url: str
) -> list[str]:
    members = tar.getmembers()
    names = [member.name for member in members]
    if MANIFEST not in names:
        raise BackupError(f"{archive} is not a certdesk backup (it has no {MANIFEST})")
    wrong = [m.name for m in members if not (m.isfile() and _allowed(m.name))]
    if wrong:
        raise BackupError(f"{archive} holds entries a certdesk backup never has: {wrong[:5]}")
    database = sqlite_path(database_url)
    present = [
        str(path)
        for path in (
            *(data_dir / name for name in CA_DIRECTORIES),
            data_dir / SECRET_KEY_FILE,
            *([database] if database is not None and DATABASE in names else []),
        )
        if path.exists() and (path.is_file() or any(path.iterdir()))
    ]
    if present:
        raise BackupError(
            f"{data_dir.resolve()} already holds certdesk data ({', '.join(present)}); "
            "restore only into an empty data directory: stop certdesk and move the old one "
            "aside first"
        )
    prepare_data_dir(data_dir)
    restored: list[str] = []
    for member in members:
        if member.name == MANIFEST:
            continue
        if member.name == DATABASE:
            if database is None:
                continue  # the backup's SQLite file; this installation uses PostgreSQL
            target = database
        else:
            target = data_dir / member.name
        target.parent.mkdir(parents=True, exist_ok=True, mode=DIRECTORY_MODE)
        source = tar.extractfile(member)
        assert source is not None  # a regular file (checked above)
        mode = 0o644 if target.suffix == ".pem" else FILE_MODE  # certificates are public
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(source.read())
        restored.append(member.name)
    return restored
