"""Language negotiation and the message catalogue (pure)."""

from __future__ import annotations

import re
import string

import pytest

from common.language import negotiate, parse_accept_language
from enrollment import errors
from enrollment.errors import CertdeskError, EnrollmentLocked, LinkExpired, WrongCredentials
from enrollment.web.messages import ERROR_TITLES, ERROR_ZH, PAGE, error_message, error_title, text


@pytest.mark.parametrize(
    ("header", "choice", "lang"),
    [
        (None, None, "en"),
        ("", None, "en"),
        ("zh-CN,zh;q=0.9,en;q=0.8", None, "zh"),
        ("en-US,en;q=0.9,zh;q=0.8", None, "en"),
        ("fr-FR,fr;q=0.9,zh-TW;q=0.5", None, "zh"),
        ("en;q=0.1, zh;q=0.5", None, "zh"),
        ("zh;q=0", None, "en"),
        ("de", None, "en"),
        ("zh-CN", "en", "en"),
        (None, "zh", "zh"),
        ("zh", "klingon", "zh"),
        ("en;q=abc, zh", None, "zh"),
    ],
)
def test_negotiate_prefers_choice_then_best_quality(
    header: str | None, choice: str | None, lang: str
) -> None:
    assert negotiate(header, choice) == lang


def test_parse_accept_language_keeps_order_for_equal_quality() -> None:
    assert parse_accept_language("zh, en;q=0.8, fr") == [(1.0, "zh"), (1.0, "fr"), (0.8, "en")]


def _placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_every_page_text_has_both_languages_with_same_placeholders() -> None:
    for key, texts in PAGE.items():
        assert set(texts) == {"en", "zh"}, key
        assert texts["en"].strip(), key
        assert texts["zh"].strip(), key
        assert _placeholders(texts["en"]) == _placeholders(texts["zh"]), key


def _all_error_classes(cls: type[CertdeskError]) -> list[type[CertdeskError]]:
    found = [cls]
    for sub in cls.__subclasses__():
        found += _all_error_classes(sub)
    return found


def test_every_error_code_has_a_chinese_message() -> None:
    """Every error of the enrollment room (the ones pages and the API show)."""
    codes = {
        cls.code
        for cls in _all_error_classes(errors.CertdeskError)
        if cls.__module__ == errors.__name__
    }
    assert codes <= set(ERROR_ZH), codes - set(ERROR_ZH)
    for title in ERROR_TITLES.values():
        assert set(title) == {"en", "zh"}


def test_error_message_fills_parameters_in_chinese() -> None:
    assert "3 次" in error_message(WrongCredentials(attempts_left=3), "zh")
    locked = error_message(EnrollmentLocked("1234567890"), "zh")
    assert "1234567890" in locked
    assert "RA" in locked
    assert error_message(LinkExpired(), "en") == LinkExpired().message
    assert error_title(LinkExpired(), "zh") == "链接已过期"
    assert error_title(CertdeskError("x"), "en") == "Something went wrong"


def test_chinese_texts_are_chinese() -> None:
    han = re.compile(r"[\u4e00-\u9fff]")
    untranslated = [k for k, v in PAGE.items() if not han.search(v["zh"]) and v["zh"] != v["en"]]
    assert untranslated == []
    assert text("form.download", "zh") == "下载"
