"""Just enough HTML templating: every value is escaped unless it is already :class:`Markup`.

Templates live in ``enrollment/templates`` and use ``$name`` placeholders (``string.Template``);
``${t:KEY}`` is the message ``KEY`` in the page's language.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from functools import cache
from importlib import resources
from string import Template


class Markup(str):
    """Text that is already safe HTML."""

    __slots__ = ()


def escape(value: object) -> Markup:
    if isinstance(value, Markup):
        return value
    return Markup(html.escape(str(value), quote=True))


def join(parts: Iterable[object]) -> Markup:
    return Markup("".join(escape(part) for part in parts))


_CODE_SPAN = re.compile(r"`([^`]+)`")


def rich_text(value: str, **slots: Markup) -> Markup:
    """Escaped text in which a `code` span becomes ``<code>`` (texts mark commands with
    backticks, which a reader should not see) and a ``{name}`` placeholder becomes
    ``slots[name]``."""
    parts = []
    for index, part in enumerate(_CODE_SPAN.split(value)):
        if index % 2:
            parts.append(element("code", {}, part))
            continue
        escaped = str(escape(part))
        for name, markup in slots.items():
            escaped = escaped.replace(f"{{{name}}}", markup)
        parts.append(Markup(escaped))
    return join(parts)


AttrValue = str | int | bool | None
VOID_ELEMENTS = frozenset({"br", "hr", "img", "input", "link", "meta"})


def element(name: str, attrs: Mapping[str, AttrValue] | None = None, *children: object) -> Markup:
    """``element("option", {"value": "x", "selected": True}, "X")`` -> safe HTML."""
    rendered = []
    for key, value in (attrs or {}).items():
        if value is None or value is False:
            continue
        if value is True:
            rendered.append(f" {key}")
        else:
            rendered.append(f' {key}="{escape(value)}"')
    if name in VOID_ELEMENTS:
        assert not children, f"<{name}> has no content"
        return Markup(f"<{name}{''.join(rendered)}>")
    inner = "".join(escape(child) for child in children)
    return Markup(f"<{name}{''.join(rendered)}>{inner}</{name}>")


class _PageTemplate(Template):
    idpattern = r"(?a:[_a-z][_a-z0-9]*|t:[a-z0-9_.]+)"


@cache
def _template(name: str) -> _PageTemplate:
    text = resources.files("enrollment.web").joinpath("templates", name).read_text(encoding="utf-8")
    return _PageTemplate(text)


class _Values(Mapping[str, str]):
    def __init__(self, values: Mapping[str, object], translate: Callable[[str], str]) -> None:
        self._values = values
        self._translate = translate

    def __getitem__(self, key: str) -> str:
        if key.startswith("t:"):
            return escape(self._translate(key[2:]))
        return escape(self._values[key])

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


def render(name: str, *, translate: Callable[[str], str], **values: object) -> Markup:
    """Fill the template ``name``; a missing placeholder is an error, not an empty string."""
    return Markup(_template(name).substitute(_Values(values, translate)))
