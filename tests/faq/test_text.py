"""Normalisation, language detection and tokenisation."""

from __future__ import annotations

import pytest

from faq.text import char_ngrams, detect_language, normalize, word_tokens


def test_normalize_folds_full_width_and_case() -> None:
    assert normalize("ＵＳＢ　Ｋｅｙ  的ＰＩＮ") == normalize("usb key 的pin")
    assert "usbkey" in normalize("ＵＳＢ　Ｋｅｙ").split()


@pytest.mark.parametrize("variant", ["U盾", "ukey", "USB-Key", "usb token", "USBKEY"])
def test_normalize_unifies_usb_key_spellings(variant: str) -> None:
    assert "usbkey" in normalize(variant).split()


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("How do I renew my certificate?", "en"),
        ("证书什么时候到期？", "zh"),
        ("USB Key 的密码忘了", "zh"),
        ("how to 下载 the certificate to my computer", "en"),
        ("证书 expire 了怎么办", "zh"),
        ("你好", "zh"),
        ("", "en"),
        ("1234", "en"),
    ],
)
def test_detect_language(text: str, language: str) -> None:
    assert detect_language(text) == language


def test_word_tokens_stem_english_and_drop_stop_words() -> None:
    assert word_tokens(normalize("Renewing the certificates")) == word_tokens(
        normalize("renewed certificate")
    )
    assert "the" not in word_tokens(normalize("the certificate"))


def test_word_tokens_chinese_bigrams_do_not_cross_particles() -> None:
    tokens = word_tokens(normalize("证书的流程"))
    assert "证书" in tokens
    assert "流程" in tokens
    assert "书的" not in tokens
    assert "的流" not in tokens


def test_word_tokens_corrector_is_applied_before_stemming() -> None:
    tokens = word_tokens(normalize("certficate"), correct=lambda w: "certificate")
    assert tokens == word_tokens(normalize("certificates"))


def test_char_ngrams_share_most_grams_despite_a_typo() -> None:
    right = set(char_ngrams(normalize("certificate")))
    typo = set(char_ngrams(normalize("certficate")))
    assert len(right & typo) / len(right | typo) > 0.5
