"""The languages certdesk speaks, how it picks one, and where its texts live. Pure.

One type (:data:`Lang`), one detection rule for free text (:func:`detect_language`: the chat,
Slack and the knowledge module), one Accept-Language negotiation (:func:`negotiate`: pages, the
API and the local chat), and Slack's user locale (:func:`locale_language`).

Every room keeps the texts people read in one message catalogue, a ``messages.toml`` beside its
``messages.py``: one table per text, holding its ``en`` and ``zh`` templates with ``{name}``
placeholders (dotted table names group texts: ``[form.browser.hint]``). :class:`Catalogue` reads
a room's file once, when a text is first asked for, and :func:`translate` fills a template.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Mapping
from functools import cache
from typing import Any, Literal, get_args

Lang = Literal["en", "zh"]
LANGUAGES: tuple[Lang, ...] = get_args(Lang)
DEFAULT_LANG: Lang = "en"
LANGUAGE_NAMES: dict[Lang, str] = {"en": "English", "zh": "中文"}

HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
"""The Chinese (Han) characters, as a regular-expression character range."""

_HAN_CHARACTER = re.compile(f"[{HAN}]")
_LATIN_WORD = re.compile("[a-z\u00df-\u024f]+")

Texts = Mapping[str, Mapping[Lang, str]]
"""A table of texts: key -> language -> template with ``{name}`` placeholders."""


def translate(texts: Texts, key: str, lang: Lang, **params: object) -> str:
    """The text ``key`` of ``texts`` in ``lang``, ``{name}`` placeholders filled from ``params``."""
    template = texts[key][lang]
    return template.format(**params) if params else template


class Catalogue(Mapping[str, Mapping[Lang, str]]):
    """A room's message catalogue (``messages.toml`` in ``package``), read on first use.

    It is a table of texts (:data:`Texts`): key -> language -> template. ``prefix`` makes it the
    view of one group: ``Catalogue("enrollment.web", "error_title")["link_used"]`` is the text
    ``error_title.link_used`` of ``enrollment/web/messages.toml``.
    """

    def __init__(self, package: str, prefix: str = "") -> None:
        self.package = package
        self.prefix = f"{prefix}." if prefix else ""

    def group(self, prefix: str) -> Catalogue:
        """The view of the texts under ``prefix`` (without it in their keys)."""
        return Catalogue(self.package, self.prefix + prefix)

    def text(self, key: str, lang: Lang, **params: object) -> str:
        """The text ``key`` in ``lang``, ``{name}`` placeholders filled from ``params``."""
        return translate(self, key, lang, **params)

    def __getitem__(self, key: str) -> Mapping[Lang, str]:
        return _read_catalogue(self.package)[self.prefix + key]

    def __iter__(self) -> Iterator[str]:
        skip = len(self.prefix)
        return (key[skip:] for key in _read_catalogue(self.package) if key.startswith(self.prefix))

    def __len__(self) -> int:
        return sum(1 for _ in self)


@cache
def _read_catalogue(package: str) -> dict[str, dict[Lang, str]]:
    # Imported here: the CLI's --help names texts without reading any catalogue.
    import tomllib
    from importlib.resources import files

    document = tomllib.loads(files(package).joinpath("messages.toml").read_text("utf-8"))
    texts: dict[str, dict[Lang, str]] = {}
    _flatten(document, "", texts)
    return texts


def _flatten(table: Mapping[str, Any], prefix: str, texts: dict[str, dict[Lang, str]]) -> None:
    """``[a.b]`` tables' ``en``/``zh`` strings become text ``a.b``; deeper tables, their own."""
    own: dict[Lang, str] = {}
    for name, value in table.items():
        if isinstance(value, Mapping):
            _flatten(value, f"{prefix}{name}.", texts)
        elif name in LANGUAGES and isinstance(value, str):
            own[name] = value
        else:
            raise ValueError(f"messages.toml: {prefix}{name} is neither a language nor a table")
    if own:
        texts[prefix.rstrip(".")] = own


def detect_language(text: str, *, fallback: Lang = DEFAULT_LANG) -> Lang:
    """``zh`` when Chinese characters are at least as many as Latin words, else ``en``.

    Full-width letters count as Latin (NFKC); a text with neither is ``fallback``.

    >>> detect_language("USB Key 的密码忘了"), detect_language("how to 下载 the certificate")
    ('zh', 'en')
    """
    folded = unicodedata.normalize("NFKC", text).casefold()
    han = len(_HAN_CHARACTER.findall(folded))
    words = len(_LATIN_WORD.findall(folded))
    if han == 0 and words == 0:
        return fallback
    return "zh" if han >= words else "en"


def locale_language(locale: str | None) -> Lang:
    """Slack's user locale (``zh-CN``, ``en-US``) as a language; unknown ones are English."""
    return _supported(locale or "") or DEFAULT_LANG


def _supported(tag: str) -> Lang | None:
    primary = tag.strip().lower().replace("_", "-").split("-")[0]
    for lang in LANGUAGES:
        if primary == lang:
            return lang
    return None


def parse_accept_language(header: str | None) -> list[tuple[float, str]]:
    """``zh-CN,zh;q=0.9,en;q=0.8`` -> [(1.0, "zh-CN"), (0.9, "zh"), (0.8, "en")], best first."""
    entries: list[tuple[float, int, str]] = []
    for position, part in enumerate((header or "").split(",")):
        tag, _, params = part.strip().partition(";")
        if not tag.strip():
            continue
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0:
            entries.append((quality, position, tag.strip()))
    entries.sort(key=lambda e: (-e[0], e[1]))
    return [(quality, tag) for quality, _, tag in entries]


def negotiate(accept_language: str | None, choice: str | None = None) -> Lang:
    """The explicit choice if supported, else the best supported Accept-Language entry."""
    if choice:
        chosen = _supported(choice)
        if chosen:
            return chosen
    for _, tag in parse_accept_language(accept_language):
        if tag == "*":
            return DEFAULT_LANG
        lang = _supported(tag)
        if lang:
            return lang
    return DEFAULT_LANG
