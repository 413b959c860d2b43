"""The entry files' parsed tables kept in the cache directory (faq/tables.py): read back instead
of parsing TOML again, never trusted for a changed file, and rebuilt when damaged."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from faq.knowledge import Entry
from faq.sources import load_all
from faq.tables import FILE_NAME, ParsedTables
from tests.faq.test_operator_entries import OFFICE_HOURS


def _office_hours(entries: tuple[Entry, ...]) -> str:
    [entry] = [e for e in entries if e.id == "office-hours"]
    return entry.title("en")


def test_parsed_tables_are_kept_and_read_back(tmp_path: Path) -> None:
    knowledge, cache = tmp_path / "knowledge", tmp_path / "cache"
    knowledge.mkdir()
    (knowledge / "office-hours.toml").write_text(OFFICE_HOURS, encoding="utf-8")
    tables = ParsedTables(cache)
    entries, _ = load_all(knowledge, tables=tables)
    tables.keep()
    kept = json.loads((cache / FILE_NAME).read_text(encoding="utf-8"))
    assert kept["format"] == 1
    assert len(kept["tables"]) == len(entries)  # the shipped entries and the operator's one
    # What the next process reads is the kept table, not the file's TOML: plant a title in it.
    [digest] = [d for d, t in kept["tables"].items() if t["id"] == "office-hours"]
    kept["tables"][digest]["en"]["title"] = "Kept title"
    (cache / FILE_NAME).write_text(json.dumps(kept), encoding="utf-8")
    entries, _ = load_all(knowledge, tables=ParsedTables(cache))
    assert _office_hours(entries) == "Kept title"


def test_a_changed_file_is_parsed_again_and_the_cache_follows(tmp_path: Path) -> None:
    knowledge, cache = tmp_path / "knowledge", tmp_path / "cache"
    knowledge.mkdir()
    entry = knowledge / "office-hours.toml"
    entry.write_text(OFFICE_HOURS, encoding="utf-8")
    tables = ParsedTables(cache)
    load_all(knowledge, tables=tables)
    tables.keep()
    entry.write_text(OFFICE_HOURS.replace("RA office hours", "Desk hours", 1), encoding="utf-8")
    tables = ParsedTables(cache)
    entries, _ = load_all(knowledge, tables=tables)
    tables.keep()
    assert _office_hours(entries) == "Desk hours and phone number"
    kept = json.loads((cache / FILE_NAME).read_text(encoding="utf-8"))["tables"]
    titles = [t["en"]["title"] for t in kept.values() if t["id"] == "office-hours"]
    assert titles == ["Desk hours and phone number"]  # the old text's table is dropped


@pytest.mark.parametrize(
    "damage",
    [b"{not json", b'{"format": 99, "tables": {}}', b"[]", b'{"format": 1, "tables": []}'],
)
def test_a_damaged_cache_is_ignored_with_a_warning_and_rewritten(
    tmp_path: Path, damage: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / FILE_NAME).write_bytes(damage)
    tables = ParsedTables(cache)
    with caplog.at_level(logging.WARNING, logger="faq.tables"):
        entries, _ = load_all(None, tables=tables)
    tables.keep()
    assert "parsing the entries again" in caplog.text
    assert entries == load_all(None)[0]  # the same entries as a plain TOML parse
    kept = json.loads((cache / FILE_NAME).read_text(encoding="utf-8"))
    assert kept["format"] == 1
    assert len(kept["tables"]) == len(entries)


def test_a_kept_table_still_passes_every_check(tmp_path: Path) -> None:
    """A table read back is validated like a parsed one: a broken kept table is an EntryInvalid
    naming the file, not an entry with missing texts."""
    from faq.errors import EntryInvalid

    knowledge, cache = tmp_path / "knowledge", tmp_path / "cache"
    knowledge.mkdir()
    (knowledge / "office-hours.toml").write_text(OFFICE_HOURS, encoding="utf-8")
    tables = ParsedTables(cache)
    load_all(knowledge, tables=tables)
    tables.keep()
    kept = json.loads((cache / FILE_NAME).read_text(encoding="utf-8"))
    for table in kept["tables"].values():
        if table["id"] == "office-hours":
            del table["en"]["answer"]
    (cache / FILE_NAME).write_text(json.dumps(kept), encoding="utf-8")
    with pytest.raises(EntryInvalid, match=r"office-hours\.toml"):
        load_all(knowledge, tables=ParsedTables(cache))


def test_knowledge_base_load_keeps_the_tables_in_its_cache_dir(tmp_path: Path) -> None:
    from faq.knowledge import KnowledgeBase

    kb = KnowledgeBase.load(cache_dir=tmp_path)
    kept = json.loads((tmp_path / FILE_NAME).read_text(encoding="utf-8"))["tables"]
    assert sorted(table["id"] for table in kept.values()) == sorted(kb.entries)


def test_a_table_with_a_toml_date_is_left_out_and_the_others_kept(tmp_path: Path) -> None:
    """JSON cannot hold a TOML date: that one file is parsed each time, the rest stay kept."""
    knowledge, cache = tmp_path / "knowledge", tmp_path / "cache"
    knowledge.mkdir()
    dated = OFFICE_HOURS.replace(
        'action = "escalate"', 'action = "escalate"\nreviewed = 2026-12-01'
    )
    (knowledge / "office-hours.toml").write_text(dated, encoding="utf-8")
    tables = ParsedTables(cache)
    entries, _ = load_all(knowledge, tables=tables)
    tables.keep()
    kept = json.loads((cache / FILE_NAME).read_text(encoding="utf-8"))["tables"]
    assert "office-hours" not in {table["id"] for table in kept.values()}
    assert len(kept) == len(entries) - 1
    again, _ = load_all(knowledge, tables=ParsedTables(cache))
    assert _office_hours(again) == "RA office hours and phone number"
