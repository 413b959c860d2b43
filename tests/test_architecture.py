"""The rooms' import rules from DESIGN.md: bot -> scheduler -> enrollment, bot -> faq."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ALLOWED = {
    "bot": {"bot", "scheduler", "enrollment", "faq", "usbkey", "common"},
    "scheduler": {"scheduler", "enrollment", "common"},
    "enrollment": {"enrollment", "usbkey", "common"},
    "faq": {"faq", "common"},
    "usbkey": {"usbkey", "common"},
    "common": {"common"},
}


def imported_rooms(path: Path) -> set[str]:
    rooms: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        rooms.update(name.split(".")[0] for name in names if name.split(".")[0] in ALLOWED)
    return rooms


@pytest.mark.parametrize("room", sorted(ALLOWED))
def test_room_imports_only_allowed_rooms(room: str) -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported_rooms(path) - ALLOWED[room])
        for path in (ROOT / room).rglob("*.py")
        if imported_rooms(path) - ALLOWED[room]
    }
    assert offenders == {}


# The holder's client is a program of its own: its entry point (and only it) hands the
# environment to the rest of the client, as bot/settings.py does for the server.
ENVIRONMENT_READERS = {"usbkey": ["usbkey/cli.py"]}


@pytest.mark.parametrize("room", ["scheduler", "enrollment", "faq", "usbkey", "common"])
def test_only_bot_reads_the_environment(room: str) -> None:
    readers = [
        str(path.relative_to(ROOT))
        for path in (ROOT / room).rglob("*.py")
        if "os.environ" in path.read_text() or "getenv(" in path.read_text()
    ]
    assert readers == ENVIRONMENT_READERS.get(room, [])


def imported_top_levels(path: Path) -> set[str]:
    tops: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            tops.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            tops.add(node.module.split(".")[0])
    return tops


# ARCHITECTURE.md: common is standard library only; usbkey ships to holders with python-pkcs11
# and cryptography, nothing of the server.
THIRD_PARTY_ALLOWED = {"common": set(), "usbkey": {"pkcs11", "cryptography"}}


@pytest.mark.parametrize("room", sorted(THIRD_PARTY_ALLOWED))
def test_holder_side_rooms_import_only_what_they_ship_with(room: str) -> None:
    allowed = set(sys.stdlib_module_names) | set(ALLOWED[room]) | {"__future__"}
    allowed |= THIRD_PARTY_ALLOWED[room]
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported_top_levels(path) - allowed)
        for path in (ROOT / room).rglob("*.py")
        if imported_top_levels(path) - allowed
    }
    assert offenders == {}


def test_architecture_map_names_every_room() -> None:
    """ARCHITECTURE.md is the map of record: every room in ALLOWED has its entry there."""
    text = (ROOT / "ARCHITECTURE.md").read_text()
    assert all(f"{room}/" in text for room in ALLOWED)


MAX_MODULE_LINES = 600
LONG_ON_PURPOSE = ("bot/migrations/",)  # frozen history; message tables are TOML, not Python


@pytest.mark.parametrize("room", ["bot", "enrollment", "faq", "scheduler"])
def test_no_module_is_longer_than_the_limit(room: str) -> None:
    """Issue 9's first acceptance: no module of these rooms over 600 lines, migrations excepted."""
    long = {
        str(path.relative_to(ROOT)): length
        for path in (ROOT / room).rglob("*.py")
        if not str(path.relative_to(ROOT)).startswith(LONG_ON_PURPOSE)
        and (length := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}, f"split these modules by role: {long}"
