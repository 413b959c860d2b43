"""Which language a page speaks: an explicit ``?lang=`` choice, else Accept-Language. Pure."""

from __future__ import annotations

from typing import Literal, get_args

Lang = Literal["en", "zh"]
LANGUAGES: tuple[Lang, ...] = get_args(Lang)
DEFAULT_LANG: Lang = "en"
LANGUAGE_NAMES: dict[Lang, str] = {"en": "English", "zh": "中文"}


def _supported(tag: str) -> Lang | None:
    primary = tag.strip().lower().split("-")[0]
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
