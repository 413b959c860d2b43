"""Every room's message catalogue (``messages.toml``): complete, consistent, and all of it used.

The keys the code looks up are collected by a static scan of its literal keys (the accessors'
first arguments, the templates' ``${t:KEY}``); a key is used when its literal appears in the
room's sources, or it belongs to a family the code builds (named below with where it is built).
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography import x509

from common.language import Catalogue, _read_catalogue

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Room:
    package: str
    sources: tuple[str, ...]
    """Files (globs under the project root) whose literal keys and texts are scanned."""
    lookups: tuple[tuple[str, str], ...]
    """(regular expression whose group 1 is a literal key, the catalogue group it is under)."""
    families: dict[str, str] = field(default_factory=dict)
    """Keys the code builds (a regular expression -> where), used without their literal."""
    only_chinese: tuple[str, ...] = ()
    """Groups of Chinese wordings whose English is an error's own message."""

    def files(self) -> list[Path]:
        return sorted(path for pattern in self.sources for path in ROOT.glob(pattern))


ROOMS = {
    "bot": Room(
        "bot",
        ("bot/**/*.py", "bot/**/*.html"),
        ((r"\btext\(\s*\"([\w.]+)\"", ""), (r"\btext\(\s*'([\w.]+)'", "")),
        families={
            r"status\.": "bot/messages.py:status_word",
            r"slack_error\.": "bot/messages.py:slack_error (Slack's error codes)",
            r"local_chat\.page\.": "bot/chat/static/index.html's $placeholders",
        },
    ),
    "enrollment.web": Room(
        "enrollment.web",
        ("enrollment/**/*.py", "enrollment/web/templates/*.html", "enrollment/web/static/*.js"),
        ((r"\btext\(\s*\"([\w.]+)\"", "page."), (r"\$\{t:([a-z0-9_.]+)\}", "page.")),
        families={
            r"page\.import\.": "enrollment/web/messages.py:import_steps, import_note",
            r"error\.": "enrollment/web/messages.py:error_message (error codes)",
            r"error_title\.": "enrollment/web/messages.py:error_title (error codes)",
            r"page\.form\.\w+\.hint$": "enrollment/web/pages.py:_delivery_options",
            r"page\.renew\.(status|delivery)\.": "enrollment/web/pages.py: the renewal page's list",
        },
        only_chinese=("error.",),
    ),
    "usbkey": Room(
        "usbkey",
        ("usbkey/**/*.py",),
        ((r"\.(?:text|say)\(\s*\"([\w.]+)\"", "text."),),
        families={
            r"text\.step\.": "usbkey/cli.py:Console.step",
            r"text\.stored\.": "usbkey/cli.py:_print_stored",
            r"text\.state\.": "usbkey/cli.py:_certificate_line",
            r"text\.revocation\.": "usbkey/cli.py:_revocation_text (revocation.py's answers)",
            r"text\.reason\.": "usbkey/cli.py:_revocation_text (RFC 5280 reasons, ReasonFlags)",
            r"error\.": "usbkey/pkcs11/errors.py:TokenError, usbkey/cli.py:Console.error_message",
        },
        only_chinese=("error.server_unreachable.pending",),
    ),
    "faq": Room(
        "faq",
        ("faq/**/*.py",),
        ((r"\blabel\(\s*\"([\w.]+)\"", "label."), (r"MESSAGES\.text\(\s*\"([\w.]+)\"", "")),
        families={
            r"error\.": "faq/messages.py:error_message (error codes)",
            r"detail\.": "faq/messages.py:_zh_detail (by the English reason in faq/inspector.py)",
        },
        only_chinese=("error.",),
    ),
}


def _placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}


def _sources(room: Room) -> str:
    return "\n".join(path.read_text(encoding="utf-8") for path in room.files())


@pytest.mark.parametrize("name", ROOMS)
def test_every_text_has_both_languages_with_the_same_placeholders(name: str) -> None:
    room = ROOMS[name]
    for key, texts in Catalogue(room.package).items():
        if key.startswith(room.only_chinese):
            assert set(texts) == {"zh"}, key
            assert texts["zh"].strip(), key
            continue
        assert set(texts) == {"en", "zh"}, key
        assert texts["en"].strip(), key
        assert texts["zh"].strip(), key
        assert _placeholders(texts["en"]) == _placeholders(texts["zh"]), key


@pytest.mark.parametrize("name", ROOMS)
def test_every_key_the_code_looks_up_exists(name: str) -> None:
    room = ROOMS[name]
    catalogue = Catalogue(room.package)
    sources = _sources(room)
    looked_up = {
        group + key for pattern, group in room.lookups for key in re.findall(pattern, sources)
    }
    assert looked_up, f"the scan of {room.package} found no lookups: is the pattern still right?"
    assert looked_up <= set(catalogue), sorted(looked_up - set(catalogue))


@pytest.mark.parametrize("name", ROOMS)
def test_no_text_is_unused(name: str) -> None:
    room = ROOMS[name]
    sources = _sources(room)
    groups = {group for _, group in room.lookups}
    unused = []
    for key in Catalogue(room.package):
        if any(re.match(family, key) for family in room.families):
            continue
        short = [key[len(group) :] for group in groups if group and key.startswith(group)] or [key]
        quoted = "|".join(re.escape(k) for k in short)
        if not re.search(rf"[\"']({quoted})[\"']|\$\{{t:({quoted})\}}", sources):
            unused.append(key)
    assert unused == []


def test_families_are_used_where_they_are_said_to_be() -> None:
    """The built families' members: placeholders, error codes and reasons the code really has."""
    sources = {name: _sources(room) for name, room in ROOMS.items()}
    bot = Catalogue("bot")
    chat_page = (ROOT / "bot/chat/static/index.html").read_text(encoding="utf-8")
    for placeholder in bot.group("local_chat.page"):
        assert f"${placeholder}" in chat_page, placeholder
    web_codes = set(re.findall(r"code\s*=\s*\"([a-z_]+)\"", sources["enrollment.web"]))
    web_errors = Catalogue("enrollment.web").group("error")  # "code" or "code.case"
    assert {key.split(".")[0] for key in web_errors} <= web_codes | {"error"}
    assert set(Catalogue("enrollment.web").group("error_title")) <= web_codes | {"error"}
    usbkey = Catalogue("usbkey")
    said = set(re.findall(r"not_checked\(\s*\"([a-z_]+)\"", sources["usbkey"]))
    assert set(usbkey.group("text.revocation.why")) == said
    statuses = {"good", "unknown", "revoked", "not_checked"}
    assert {key for key in usbkey.group("text.revocation") if "." not in key} == statuses
    assert set(usbkey.group("text.reason")) == {flag.value for flag in x509.ReasonFlags}
    usbkey_codes = set(re.findall(r"code\s*=\s*\"([a-z_]+)\"", sources["usbkey"]))
    errors = Catalogue("usbkey").group("error")
    assert {key.split(".")[0] for key in errors} <= usbkey_codes
    faq_codes = set(re.findall(r"code\s*=\s*\"([a-z_]+)\"", sources["faq"]))
    assert set(Catalogue("faq").group("error")) <= faq_codes
    for reason in Catalogue("faq").group("detail").values():
        assert f'"{reason["en"]}"' in sources["faq"], reason["en"]


def test_a_catalogue_is_read_once() -> None:
    """Parsed on first use and cached: a second lookup does not read the file again."""
    _read_catalogue.cache_clear()
    Catalogue("faq").text("not_confident", "en")
    Catalogue("faq").group("label").text("cn", "zh")
    assert _read_catalogue.cache_info().misses == 1
