"""Every text a person reads on the enrollment pages, in English and Chinese, in one place.

The texts are in ``messages.toml`` beside this module; page texts are looked up by key
(:func:`text`). Errors keep their English message in ``errors.py`` (it is also the API's
default ``error.message``); their Chinese wording and the page titles are keyed in the
catalogue by the error's ``code``, so each error has one message per language.
"""

from __future__ import annotations

from typing import Any

from common.errors import CertdeskError
from common.language import Catalogue, Lang

MESSAGES = Catalogue("enrollment.web")
PAGE = MESSAGES.group("page")
ERROR_TITLES = MESSAGES.group("error_title")
"""Page titles of errors, by error code."""
ERROR_ZH = MESSAGES.group("error")
"""Chinese wording of every error (English: the error's own message), by error code."""


def text(key: str, lang: Lang, **params: object) -> str:
    """The page text ``key`` in ``lang``; ``{name}`` placeholders are filled from ``params``."""
    return PAGE.text(key, lang, **params)


def error_title(error: CertdeskError, lang: Lang) -> str:
    return (ERROR_TITLES.get(error.code) or ERROR_TITLES["error"])[lang]


def _error_params(error: CertdeskError) -> dict[str, Any]:
    return {k: v for k, v in vars(error).items() if k not in ("message", "code", "status")}


def error_message(error: CertdeskError, lang: Lang) -> str:
    """What happened and what to do next, in ``lang``."""
    if lang == "en":
        return error.message
    keyed = ERROR_ZH.get(f"{error.code}.{error.case}") if error.case else None
    template = (keyed or ERROR_ZH.get(error.code) or ERROR_ZH["error"])["zh"]
    try:
        return template.format(**_error_params(error))
    except (KeyError, IndexError):
        return ERROR_ZH["error"]["zh"]


IMPORT_SYSTEMS = ("windows", "macos", "firefox", "linux", "java")


def import_steps(system: str, lang: Lang) -> list[str]:
    """The numbered import steps for ``system`` (one of :data:`IMPORT_SYSTEMS`), in order."""
    steps: list[str] = []
    while (key := f"import.{system}.{len(steps) + 1}") in PAGE:
        steps.append(text(key, lang))
    return steps


def import_note(system: str, lang: Lang) -> str | None:
    """What ``system`` needs to know about a file in the default (modern) format, if anything."""
    key = f"import.{system}.modern"
    return text(key, lang) if key in PAGE else None


def script_texts(lang: Lang) -> dict[str, str]:
    """The texts the page's script shows (progress, results, checks), in ``lang``."""
    prefixes = ("status.", "done.", "check.", "env.")
    return {key: value[lang] for key, value in PAGE.items() if key.startswith(prefixes)}
