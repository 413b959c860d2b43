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
* :func:`correct_han` — a pinyin keyboard's slips: a character typed as another of the same
  sound ("密吗" for 密码, "跟新" for 更新, "证数" for 证书), put right where a known bigram
  results.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Callable, Container, Iterator, Mapping
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
        (r"登陆|登入|登进", "登录"),
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
# The stemmer keeps the word it works on in itself: one word at a time, whichever thread asks
# (the bot asks the knowledge base from worker threads). Only words not in stem()'s cache wait.
_stemming = threading.Lock()

# Characters a pinyin input method offers for the same syllable (tones ignored), one group a
# line: the domain's characters and the ones most often picked in their place. A character may
# sit in two groups (会: hui, kuai). Only used to put a slip right where a known bigram results.
_HOMOPHONE_GROUPS = """
    证正政整争征睁挣症郑 书数输树属术叔舒殊熟 密秘蜜米迷觅谜 码吗妈马玛嘛骂麻 更跟耕庚梗耿
    新信心辛欣馨薪 载再在栽宰灾仔 导倒到道岛刀盗稻 权全泉拳劝圈券犬 号好毫耗浩豪
    期其起气器奇齐旗企启汽骑弃 件见建间健简键检剑渐 销消小笑效晓校孝 错措挫搓
    钥要药摇咬腰 钥月越约阅 户护互湖虎呼乎 者着这折哲遮 名明命鸣铭 份分粉奋纷 择泽则责
    限线现先县显险鲜 字子自资紫 签千钱前潜欠 链连练脸恋联 接街节结阶解 授受收手首守售
    块快会筷 模魔摸膜磨末 下夏吓虾霞 盾顿吨蹲 公工功攻供宫 私思司丝斯死四 登等灯邓
    录路陆露鹿 机级及即记技集极寄急基 置制指只知直值纸支执 设社射舍蛇 备被背贝杯 法发罚
    验言严眼演研烟 续需序许须 用拥永勇 使是事时实式市示试识失十 认人任忍 浏流留刘
    览蓝篮懒栏 控空孔恐 查差茶察插 看砍刊 安按案暗岸 装状撞壮 出除处初 入如乳辱
    通同统痛 过国果锅 会回汇慧 吊掉调钓 修秀休 改该盖概 单但担蛋 位为未微维 申身深神审
    请清情轻青 办版半班搬 理里例力立利 端段短断 客可课科刻 服复付副福 务误物无五
    员原源园远 换还环欢缓 主注住助 册测策侧 账张章 效校笑 锁所索 丢叮 失师施湿诗
    信性星行形型 证真针珍 新星 名民 定订 登等
"""
_SOUNDS_ALIKE: dict[str, set[str]] = {}
for _group in _HOMOPHONE_GROUPS.split():
    for _char in _group:
        _SOUNDS_ALIKE.setdefault(_char, set()).update(set(_group) - {_char})
_HOMOPHONES = {char: tuple(sorted(others)) for char, others in _SOUNDS_ALIKE.items()}


def normalize(text: str) -> str:
    """NFKC, case-folded, variants unified, whitespace collapsed."""
    folded = unicodedata.normalize("NFKC", text).casefold().replace("\u2019", "'")
    for pattern, replacement in _VARIANTS:
        folded = pattern.sub(replacement, folded)
    return " ".join(folded.split())


@lru_cache(maxsize=8192)
def stem(word: str) -> str:
    with _stemming:
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


def han_bigrams(normalized: str) -> Iterator[str]:
    """Every pair of adjacent Chinese characters (particles included), as typed."""
    for run in _HAN_RUN.findall(normalized):
        yield from (run[i : i + 2] for i in range(len(run) - 1))


def correct_han(normalized: str, known: Mapping[str, int] | Container[str]) -> str:
    """A normalised text with pinyin slips put right: in a bigram not in ``known``, one
    character is replaced by a homophone that makes a known bigram ("证数" -> 证书).

    A character that already forms a known bigram with its other neighbour stays; among several
    repairs the bigram ``known`` counts most often wins (on a tie, the second character's).
    """
    if not any(bigram not in known for bigram in han_bigrams(normalized)):
        return normalized
    return _HAN_RUN.sub(lambda match: _correct_run(match.group(), known), normalized)


def _correct_run(run: str, known: Mapping[str, int] | Container[str]) -> str:
    chars = list(run)

    def is_known(i: int) -> bool:  # the bigram chars[i:i + 2]
        return 0 <= i < len(chars) - 1 and chars[i] + chars[i + 1] in known

    for i in range(len(chars) - 1):
        if is_known(i):
            continue
        best: tuple[int, int, str] | None = None  # (count, position, character)
        for position, anchored in ((i + 1, is_known(i + 1)), (i, is_known(i - 1))):
            if anchored:
                continue
            for other in _HOMOPHONES.get(chars[position], ()):
                pair = other + chars[i + 1] if position == i else chars[i] + other
                if pair in known:
                    count = known[pair] if isinstance(known, Mapping) else 1
                    if best is None or count > best[0]:
                        best = (count, position, other)
        if best is not None:
            chars[best[1]] = best[2]
    return "".join(chars)
