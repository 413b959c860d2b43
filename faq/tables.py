"""The entry files' parsed TOML tables, kept between processes.

``tomllib`` is written in Python: parsing the shipped entries (22 files, 170 kB) costs every
process about a tenth of a second of CPU, most of a warm ``certdesk ask``'s own work, while JSON
reads the same tables in a few milliseconds. ``faq-entries.json`` in the cache directory maps
the SHA-256 of each file's text to the table ``tomllib`` parsed from it.

It is a cache, never a source: a file whose text changed is parsed again (its digest is not
there), a damaged or foreign cache file is ignored with a warning and rewritten, and every table,
read back or parsed, goes through all of :func:`faq.knowledge.parse_entry`'s checks. Only what
JSON holds exactly is kept (strings, numbers, booleans, lists, tables): a table with a TOML date
is parsed each time.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tomllib
from pathlib import Path
from typing import Any

from faq.npz import replace_atomically

log = logging.getLogger(__name__)

FORMAT = 1
FILE_NAME = "faq-entries.json"


class ParsedTables:
    """Parsed entry tables by their text's digest: the ones ``cache_dir`` kept, and the ones
    parsed since. :meth:`keep` writes back the ones used, when they differ from what was read."""

    def __init__(self, cache_dir: Path | None) -> None:
        self.path = None if cache_dir is None else cache_dir / FILE_NAME
        self._kept = self._read()
        self._used: dict[str, Any] = {}

    def parse(self, content: str) -> dict[str, Any]:
        """The table of ``content``, as ``tomllib.loads`` gives it (raising its errors too)."""
        digest = hashlib.sha256(content.encode()).hexdigest()
        table = self._kept.get(digest)
        if not isinstance(table, dict):
            table = tomllib.loads(content)
        self._used[digest] = table
        return table

    def keep(self) -> None:
        """Write the tables used since opening, if any is new or one was left unused."""
        keepable = {digest: t for digest, t in self._used.items() if _json_holds(t)}
        if self.path is None or keepable.keys() == self._kept.keys():
            return
        text = json.dumps({"format": FORMAT, "tables": keepable}, ensure_ascii=False)
        try:
            replace_atomically(self.path, text.encode())
        except OSError as error:
            log.warning("could not keep the parsed entries in %s: %s", self.path, error)

    def _read(self) -> dict[str, Any]:
        if self.path is None:
            return {}
        try:
            document = json.loads(self.path.read_bytes())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as error:
            log.warning("parsing the entries again: %s is unusable (%s)", self.path, error)
            return {}
        if (
            not isinstance(document, dict)
            or document.get("format") != FORMAT
            or not isinstance(document.get("tables"), dict)
        ):
            log.warning("parsing the entries again: %s is not format %s", self.path, FORMAT)
            return {}
        tables: dict[str, Any] = document["tables"]
        return tables


def _json_holds(table: Any) -> bool:
    """Whether JSON holds ``table`` exactly: not with a TOML date or time in it."""
    if isinstance(table, dict):
        return all(_json_holds(value) for value in table.values())
    if isinstance(table, list):
        return all(_json_holds(value) for value in table)
    return isinstance(table, str | int | float | bool)
