"""Where entries come from: the shipped ones, and an RA's own directory of entry files.

An operator entry with a shipped id replaces it; a new id adds a topic. Operator entries may leave
out a language (its texts then fall back to another's, and ``faq check`` says so). A broken file
raises :class:`~faq.errors.EntryInvalid` with the file and the line, so a server refuses to start
on it, and a running server keeps its last good set.

    >>> entries, origins = load_all(Path("/etc/certdesk/knowledge"))
    >>> origins["lost-codes"]
    'operator'
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from faq.errors import KnowledgeDirMissing
from faq.knowledge import Entry, load_entries

if TYPE_CHECKING:
    from faq.tables import ParsedTables

Origin = Literal["shipped", "operator", "replaced"]  # replaced: an operator file overrides it


def load_all(
    operator_dir: Path | None, *, tables: ParsedTables | None = None
) -> tuple[tuple[Entry, ...], Mapping[str, Origin]]:
    """The shipped entries merged with ``operator_dir``'s (if any), and where each one came from;
    ``tables``: see :func:`faq.knowledge.parse_entry`."""
    merged: dict[str, Entry] = {entry.id: entry for entry in load_entries(tables=tables)}
    origins: dict[str, Origin] = dict.fromkeys(merged, "shipped")
    if operator_dir is not None:
        for entry in load_entries(_directory(operator_dir), allow_untranslated=True, tables=tables):
            origins[entry.id] = "replaced" if entry.id in merged else "operator"
            merged[entry.id] = entry
    return tuple(merged.values()), origins


def _directory(path: Path) -> Path:
    if not path.is_dir():
        raise KnowledgeDirMissing(path)
    return path


def directory_digest(operator_dir: Path | None) -> str:
    """A cheap fingerprint of the operator entry files (names, sizes, modification times): when it
    changes, the entries are read again. Empty when there is no directory."""
    if operator_dir is None:
        return ""
    digest = hashlib.sha256()
    try:
        files = sorted(operator_dir.glob("*.toml"))
        for path in files:
            stat = path.stat()
            digest.update(f"{path.name}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    except OSError as error:  # the directory went away: a change, which the reload reports
        digest.update(f"error {error.errno}".encode())
    return digest.hexdigest()
