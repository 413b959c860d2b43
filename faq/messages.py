"""Every user-facing text of the knowledge room, in English and Chinese, in one place.

The texts are in ``messages.toml`` beside this module; what needs more than a lookup (a list of
titles, an error's wording) is put together here.
"""

from __future__ import annotations

from collections.abc import Sequence

from common.language import Catalogue, Lang
from faq.errors import FaqError, NotACertificate

MESSAGES = Catalogue("faq")
_LABELS = MESSAGES.group("label")
_ERRORS_ZH = MESSAGES.group("error")
_DETAILS = MESSAGES.group("detail")


def did_you_mean(titles: Sequence[str], language: Lang) -> str:
    lines = "\n".join(f"• {title}" for title in titles)
    return MESSAGES.text("did_you_mean", language, titles=lines)


def not_confident(language: Lang) -> str:
    return MESSAGES.text("not_confident", language)


def error_message(error: FaqError, language: Lang) -> str:
    """``error``'s message in ``language`` (English is the error's own message)."""
    if language == "en" or error.code not in _ERRORS_ZH:
        return error.message
    detail = _zh_detail(error.detail) if isinstance(error, NotACertificate) else ""
    return _ERRORS_ZH.text(error.code, language, detail=detail)


def _zh_detail(detail: str) -> str:
    """Why a file is not a certificate, in Chinese if the catalogue has that reason."""
    for texts in _DETAILS.values():
        if texts["en"] == detail:
            return texts["zh"]
    return detail


def label(key: str, language: Lang, **values: object) -> str:
    return _LABELS.text(key, language, **values)
