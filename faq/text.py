"""Text handling for retrieval: normalisation and the two tokenisers.

Questions arrive in English, Chinese or a mix ("USB Key 的 PIN 码锁了"), with typos and with the
vocabulary of the old platform. Everything here is pure and deterministic:

* :func:`normalize` — Unicode NFKC (full-width letters and punctuation become ASCII), case folding,
  a few spelling variants mapped to one form ("u盾", "ukey", "usb-key" -> ``usbkey``), and forms
  Snowball leaves apart ("forgot" / "forgotten" / "don't remember", "忘了" / "想不起来").
* :func:`word_tokens` — English words stemmed with Snowball (stop words removed); Chinese runs as
  character unigrams and bigrams, which needs no dictionary and is robust to unusual words.
* :func:`char_ngrams` — character trigrams inside English words plus Chinese bigrams, the
  signal that still matches a misspelt word ("certficate", "renwal").
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterator
from functools import lru_cache
from typing import Literal

import snowballstemmer

from common.language import HAN as _HAN

_HAN_RUN = re.compile(f"[{_HAN}]+")
_SEGMENT = re.compile(f"(?P<han>[{_HAN}]+)|(?P<word>[a-z\u00df-\u024f]+|[0-9]+)")

# Spelling variants of the same thing, rewritten before tokenising (applied in order).
_VARIANTS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), replacement)
    for pattern, replacement in (
        (r"u\s*盾|\bu-?key\b|\busb[\s_-]*(?:key|token|stick)s?\b|usbkey", " usbkey "),
        (r"\bsmart[\s-]*cards?\b", " smartcard "),
        (r"\bkey[\s-]*pairs?\b", " keypair "),
        (r"\bpkcs\s*#?\s*11\b", " pkcs11 "),
        (r"\bpkcs\s*#?\s*12\b|\bpfx\b", " p12 "),
        (r"\bpkcs\s*#?\s*7\b", " p7b "),
        (r"\bcerts?\b", " certificate "),
        (r"\bie\b", " internet explorer "),
        (r"\be-?mails?\b", " mail "),
        (r"\bpass(?:wd|wrd)\b|\bpwd\b", " password "),
        (r"\bauth\b", " authorization "),
        (r"\bref\b", " reference "),
        (r"\bactive\s*x\b", " activex "),
        (r"\bplug[\s-]+ins?\b", " plugin "),
        (r"\bcan'?t\b|\bcannot\b|\bwon'?t\b|\bdon'?t\b|\bdoesn'?t\b|\bdidn'?t\b", " not "),
        (r"口令", "密码"),
        # Irregular English forms Snowball leaves apart, and their Chinese counterparts.
        (r"\bforg[eo]t(?:ten|ting)?\b|\bnot\s+(?:remember|recall)\b", " forget "),
        (r"忘记|忘了|忘掉|不记得|记不得|想不起来?", " 忘记 "),
        (r"\bsto(?:len|le|eal|eals)\b", " stolen "),
        (r"被偷|被盗|偷了|偷走", " 被盗 "),
        (r"弄丢|丢失|丢了|丢掉|遗失|不见了", " 丢失 "),
        (r"作废|注销|撤销", "吊销"),
        (r"计算机", "电脑"),
        (r"火狐", " firefox "),
        (r"\blog\s*(?:in|on)\b|\bsign\s*(?:in|on)\b|\blogin\b", " login "),
        (r"\bwin\s*(?=\d|xp\b)|\bwin\b", " windows "),
        # "put into / store in / write to": one form for the resultative verbs.
        (r"(?:装|放|存|写|弄)(?:进|到|入|在)", "存到"),
        # Chinese question words: one form each, as a phrase of its own.
        (r"怎么办|咋办|怎么弄|咋弄|怎么搞|咋整|怎么处理|怎么解决", " 怎么办 "),
        (r"(?:怎么|怎样|如何|咋)(?!办)", " 怎么 "),
        (r"什么|啥", " 什么 "),
        (r"哪里|哪儿|哪", " 哪里 "),
    )
)

_EN_STOP_WORDS = """
    a an the i me my mine myself we our ours you your yours he she it its they them their
    is am are was were be been being do does did doing to of in on at for and or nor this that
    these those with by from as so if then than but just please can could would should will
    shall may might must have has had having there here im i'm ive i've hi hey pls plz also
    still any some get got s t d m ll re ve
"""
_EN_STOP = frozenset(_EN_STOP_WORDS.split())
# Chinese characters that carry no topic on their own (kept inside bigrams), and the particles
# that end a phrase: no bigram is formed across them ("证书的流程" -> 证书 / 流程).
_ZH_STOP = frozenset(
    "的了吗呢吧啊呀么嘛哦我你他她它是在有要和就都也还这那个一下请问把给让被能会可以咋啥怎样什哪如何"
)
_ZH_BREAK = re.compile("[的了吗呢吧啊呀嘛哦把被给]+")

# Stems that mean the same thing (British / American spelling, abbreviations).
_STEM_CANON = {
    "authoris": "author",
    "authoriz": "author",
    "organis": "organiz",
    "renewl": "renew",
    "expiri": "expir",
}

_stemmer = snowballstemmer.stemmer("english")


def normalize(text: str) -> str:
    """NFKC, case-folded, variants unified, whitespace collapsed."""
    folded = unicodedata.normalize("NFKC", text).casefold().replace("\u2019", "'")
    for pattern, replacement in _VARIANTS:
        folded = pattern.sub(replacement, folded)
    return " ".join(folded.split())


@lru_cache(maxsize=8192)
def stem(word: str) -> str:
    stemmed: str = _stemmer.stemWord(word)
    return _STEM_CANON.get(stemmed, stemmed)


def latin_words(normalized: str) -> list[str]:
    """The English (Latin-script) words of a normalised text, stop words removed."""
    return [seg for kind, seg in _segments(normalized) if kind == "word" and seg not in _EN_STOP]


def han_runs(normalized: str) -> tuple[str, ...]:
    """The runs of Chinese characters in a normalised text."""
    return tuple(_HAN_RUN.findall(normalized))


def _segments(normalized: str) -> Iterator[tuple[Literal["han", "word"], str]]:
    for match in _SEGMENT.finditer(normalized):
        han = match.group("han")
        if han is not None:
            yield "han", han
        else:
            yield "word", match.group("word")


def word_tokens(normalized: str, *, correct: Callable[[str], str] | None = None) -> list[str]:
    """Terms for BM25: English stems and Chinese character unigrams + bigrams.

    ``correct`` may replace an English word (e.g. a misspelling) before it is stemmed.
    """
    tokens: list[str] = []
    for kind, segment in _segments(normalized):
        if kind == "word":
            if segment not in _EN_STOP:
                tokens.append(stem(correct(segment) if correct is not None else segment))
            continue
        tokens.extend(char for char in segment if char not in _ZH_STOP)
        for phrase in _ZH_BREAK.split(segment):
            tokens.extend(phrase[i : i + 2] for i in range(len(phrase) - 1))
    return tokens


def char_ngrams(normalized: str) -> list[str]:
    """Character trigrams of English words (with word boundaries) and Chinese bigrams."""
    grams: list[str] = []
    for kind, segment in _segments(normalized):
        if kind == "word":
            if segment in _EN_STOP:
                continue
            padded = f"<{segment}>"
            grams.extend(padded[i : i + 3] for i in range(len(padded) - 2))
        else:
            for phrase in _ZH_BREAK.split(segment):
                if len(phrase) == 1:
                    grams.append(phrase)
                else:
                    grams.extend(phrase[i : i + 2] for i in range(len(phrase) - 1))
    return grams
