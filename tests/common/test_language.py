"""The one language type: detection, Slack locales, negotiation; the page catalogue (pure)."""

from __future__ import annotations

import re
import string

import pytest

from common.errors import CertdeskError
from common.language import (
    detect_language,
    locale_language,
    negotiate,
    parse_accept_language,
    translate,
)
from enrollment import errors
from enrollment.errors import EnrollmentLocked, LinkExpired, WrongCredentials
from enrollment.web.messages import ERROR_TITLES, ERROR_ZH, PAGE, error_message, error_title, text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("how do I find the CN of my certificate", "en"),
        ("How do I renew my certificate?", "en"),
        ("怎么查看证书的 CN", "zh"),
        ("我的 certificate 过期了", "zh"),
        ("证书什么时候到期？", "zh"),
        ("USB Key 的密码忘了", "zh"),
        ("证书 expire 了怎么办", "zh"),
        ("你好", "zh"),
        ("My CN is 张三, how do I renew?", "en"),
        ("how to 下载 the certificate to my computer", "en"),
        ("ＵＳＢ Ｋｅｙ ｐｉｎ 忘了", "en"),
        ("123", "en"),
        ("", "en"),
    ],
)
def test_detect_language_follows_the_majority_script(text: str, expected: str) -> None:
    """Chinese when Han characters are at least as many as Latin words (full-width is Latin)."""
    assert detect_language(text) == expected


def test_detect_language_without_letters_uses_fallback() -> None:
    assert detect_language("???", fallback="zh") == "zh"
    assert detect_language("1234", fallback="zh") == "zh"
    assert detect_language("1234") == "en"


@pytest.mark.parametrize(
    ("locale", "lang"),
    [("zh-CN", "zh"), ("zh_TW", "zh"), ("en-US", "en"), ("fr-FR", "en"), ("", "en"), (None, "en")],
)
def test_locale_language_maps_slack_locales(locale: str | None, lang: str) -> None:
    assert locale_language(locale) == lang


def test_translate_fills_placeholders_only_when_given() -> None:
    texts = {"left": {"en": "{days} days left", "zh": "剩余 {days} 天"}}
    assert translate(texts, "left", "zh", days=3) == "剩余 3 天"
    assert translate(texts, "left", "en") == "{days} days left"


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
        cls.code for cls in _all_error_classes(CertdeskError) if cls.__module__ == errors.__name__
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
