"""Normalisation and tokenisation (language detection: tests/common/test_language.py)."""

from __future__ import annotations

import pytest

from faq.text import char_ngrams, normalize, word_tokens


def test_normalize_folds_full_width_and_case() -> None:
    assert normalize("ＵＳＢ　Ｋｅｙ  的ＰＩＮ") == normalize("usb key 的pin")
    assert "usbkey" in normalize("ＵＳＢ　Ｋｅｙ").split()


@pytest.mark.parametrize("variant", ["U盾", "ukey", "USB-Key", "usb token", "USBKEY"])
def test_normalize_unifies_usb_key_spellings(variant: str) -> None:
    assert "usbkey" in normalize(variant).split()


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


@pytest.mark.parametrize(
    ("variant", "canonical"),
    [
        ("I forgot the password", "forget the password"),
        ("I don't remember the password", "forget the password"),
        ("forgotten password", "forget password"),
        ("laptop stolen", "laptop stole"),
        ("sign in with the certificate", "log in with the certificate"),
        ("win10", "windows 10"),
        ("密码想不起来了", "密码忘了"),
        ("电脑被偷了", "电脑被盗"),
        ("U盾弄丢了", "U盾丢了"),
        ("证书作废", "证书吊销"),
        ("火狐", "Firefox"),
    ],
)
def test_normalize_unifies_forms_that_stemming_leaves_apart(variant: str, canonical: str) -> None:
    """Irregular English forms and Chinese synonyms reach the same tokens."""
    assert word_tokens(normalize(variant)) == word_tokens(normalize(canonical))
