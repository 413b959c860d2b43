"""Normalisation and tokenisation (language detection: tests/common/test_language.py)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from faq.text import char_ngrams, correct_han, normalize, stem, word_tokens


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
        ("用证书登陆网站", "用证书登录网站"),
    ],
)
def test_normalize_unifies_forms_that_stemming_leaves_apart(variant: str, canonical: str) -> None:
    """Irregular English forms and Chinese synonyms reach the same tokens."""
    assert word_tokens(normalize(variant)) == word_tokens(normalize(canonical))


KNOWN_BIGRAMS = {"证书": 9, "过期": 3, "密码": 5, "更新": 4, "参考": 3, "考号": 3, "正常": 1}


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("我的证数快过其了", "我的证书快过期了"),
        ("文件的密吗忘了", "文件的密码忘了"),
        ("证书怎么跟新", "证书怎么更新"),
        ("参考好丢了", "参考号丢了"),
    ],
)
def test_correct_han_puts_pinyin_slips_right(typed: str, meant: str) -> None:
    """A character typed as another of the same sound becomes the one a known bigram needs."""
    assert correct_han(normalize(typed), KNOWN_BIGRAMS) == normalize(meant)


@pytest.mark.parametrize("question", ["要密码吗", "证书正常吗", "年假还有几天", "certificate"])
def test_correct_han_leaves_known_bigrams_and_other_words_alone(question: str) -> None:
    """No bigram is changed that is known, or whose homophones make no known bigram."""
    assert correct_han(normalize(question), KNOWN_BIGRAMS) == normalize(question)


def test_stem_from_several_threads_at_once_gives_each_word_its_own_stem() -> None:
    """The bot asks the knowledge base from worker threads; the stemmer keeps the word it is
    working on in itself, so two threads stemming at once must not mix their words."""
    words = [f"{prefix}{n}ing" for n in range(6000) for prefix in ("renew", "expir")]
    stem.cache_clear()
    expected = {word: stem(word) for word in words}
    stem.cache_clear()  # every word reaches the stemmer again, from four threads
    start = threading.Barrier(4)

    def stem_all(offset: int) -> dict[str, str]:
        start.wait()
        return {word: stem(word) for word in words[offset:] + words[:offset]}

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(stem_all, (0, 1500, 3000, 4500)))
    assert all(result == expected for result in results)
