"""The shipped knowledge base: entries, answers in the question's language, the three outcomes."""

from __future__ import annotations

from pathlib import Path

import pytest

from common.language import LANGUAGES, Lang
from faq.errors import EntryInvalid
from faq.knowledge import (
    REQUIRED_IDS,
    Action,
    KnowledgeBase,
    load_entries,
    parse_entry,
)
from faq.retrieval import Outcome, Thresholds

VALID = """
id = "sample"
action = "renew"
[en]
title = "Sample"
questions = ["one", "two", "three", "four", "five"]
answer = "An answer."
[zh]
title = "示例"
questions = ["一", "二", "三", "四", "五"]
answer = "回答。"
"""


def test_entries_every_required_id_exists(kb: KnowledgeBase) -> None:
    assert set(REQUIRED_IDS) <= set(kb.entries)


@pytest.mark.parametrize("entry_id", REQUIRED_IDS)
@pytest.mark.parametrize("language", LANGUAGES)
def test_ask_every_id_answers_its_own_examples(
    kb: KnowledgeBase, entry_id: str, language: Lang
) -> None:
    """Acceptance 1: each example question (and title) gets its own entry, in its language."""
    entry = kb.entries[entry_id]
    for question in (entry.title(language), *entry.questions(language)):
        answer = kb.ask(question)
        assert (question, answer.id) == (question, entry_id)
        assert answer.outcome is Outcome.CONFIDENT
        assert answer.text == entry.answer(answer.language)
        assert answer.action is entry.action


@pytest.mark.parametrize(
    "question", ["what's the weather in Beijing", "how do I reset my laptop", "你好"]
)
def test_ask_off_topic_acceptance_questions_are_not_confident(
    kb: KnowledgeBase, question: str
) -> None:
    """Acceptance 3."""
    answer = kb.ask(question)
    assert answer.id is None
    assert answer.outcome is not Outcome.CONFIDENT


def test_ask_answers_in_the_question_language(kb: KnowledgeBase) -> None:
    english = kb.ask("How do I renew my certificate?")
    chinese = kb.ask("证书怎么更新？")
    assert (english.id, english.language) == ("renewal", "en")
    assert (chinese.id, chinese.language) == ("renewal", "zh")
    assert english.text == kb.entries["renewal"].answer("en")
    assert chinese.text == kb.entries["renewal"].answer("zh")


def test_ask_mixed_question_answers_in_chinese(kb: KnowledgeBase) -> None:
    answer = kb.ask("USB Key 的 PIN 码锁了怎么办")
    assert answer.id == "usbkey-password"
    assert answer.language == "zh"


def test_ask_language_override(kb: KnowledgeBase) -> None:
    answer = kb.ask("How do I renew my certificate?", language="zh")
    assert answer.text == kb.entries["renewal"].answer("zh")


def test_ask_not_confident_offers_ra_staff_in_the_question_language(kb: KnowledgeBase) -> None:
    english, chinese = kb.ask("what's the weather in Beijing"), kb.ask("你好")
    assert english.outcome is Outcome.NOT_CONFIDENT
    assert "RA staff" in english.text
    assert "RA 工作人员" in chinese.text
    assert english.action is Action.ESCALATE


def test_ask_did_you_mean_lists_up_to_three_titles() -> None:
    """With an unreachable answer threshold every match becomes a suggestion."""
    kb = KnowledgeBase(
        entries=load_entries(),
        thresholds=Thresholds(answer=1.0, margin=1.0, suggest=0.05),
        second_look=None,
    )
    answer = kb.ask("how do I download my certificate to a usb key")
    assert answer.outcome is Outcome.DID_YOU_MEAN
    assert answer.id is None
    assert 1 <= len(answer.suggestions) <= 3
    assert answer.suggestions[0].id == answer.best_id == "download-to-usbkey"
    for suggestion in answer.suggestions:
        assert suggestion.title in answer.text
    assert answer.text.startswith("I'm not sure which one you mean")


def test_answer_json_has_exactly_the_cli_fields(kb: KnowledgeBase) -> None:
    data = kb.ask("How do I renew my certificate?").to_json()
    assert set(data) == {"id", "score", "answer"}
    assert data["id"] == "renewal"
    assert isinstance(data["score"], float)
    assert 0.0 <= data["score"] <= 1.0


def test_entries_answers_describe_certdesk_commands_and_pages(kb: KnowledgeBase) -> None:
    expected = {
        "download-to-browser": "/enroll/",
        "download-to-usbkey": "certdesk-usbkey enroll",
        "choose-csp": "--module",
        "renewal": "/renew/",
        "find-cn-ou-o": "certdesk inspect",
        "certificate-expiry": "certdesk inspect",
    }
    for entry_id, fragment in expected.items():
        for language in LANGUAGES:
            assert fragment in kb.entries[entry_id].answer(language), (entry_id, language)


def test_entries_examples_use_old_platform_words(kb: KnowledgeBase) -> None:
    examples = " ".join(
        question.casefold()
        for entry in kb.entries.values()
        for language in LANGUAGES
        for question in entry.questions(language)
    )
    for word in ("activex", "control", "trusted site", "csp", "internet explorer", "控件"):
        assert word in examples, word


def test_parse_entry_reads_a_valid_entry() -> None:
    entry = parse_entry("sample.toml", VALID)
    assert entry.id == "sample"
    assert entry.action is Action.RENEW
    assert entry.title("zh") == "示例"


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("id = ", "not valid TOML"),
        (VALID.replace('action = "renew"', 'action = "dance"'), "dance"),
        (VALID.split("[zh]")[0], "missing table [zh]"),
        (VALID.replace('"four", "five"', ""), "at least 5"),
        (VALID.replace('id = "sample"', 'id = "Not An Id"'), "lower-case"),
        (VALID.replace('answer = "An answer."', "answer = 3"), "'answer' must be a string"),
    ],
)
def test_parse_entry_refuses_invalid_entries(content: str, problem: str) -> None:
    with pytest.raises(EntryInvalid, match=r"sample\.toml") as caught:
        parse_entry("sample.toml", content)
    assert problem in caught.value.problem


def test_load_entries_requires_file_name_to_match_id(tmp_path: Path) -> None:
    (tmp_path / "other.toml").write_text(VALID, encoding="utf-8")
    with pytest.raises(EntryInvalid, match=r"sample\.toml"):
        load_entries(tmp_path)


def test_knowledge_base_refuses_duplicate_ids(tmp_path: Path) -> None:
    entry = parse_entry("sample.toml", VALID)
    with pytest.raises(ValueError, match="duplicate"):
        KnowledgeBase(entries=[entry, entry])


@pytest.mark.parametrize(
    "question", ["导入p12时提示密码错误", "keychain says wrong password", "MAC verification failed"]
)
def test_the_import_problems_holders_report_get_the_import_entry(
    kb: KnowledgeBase, question: str
) -> None:
    """Issue 15, acceptance 3: once answered with the USB-key PIN or the download steps, or not
    at all."""
    answer = kb.ask(question)
    assert answer.id == "import-certificate-file"
    assert "Compatible with macOS" in answer.text or "兼容 macOS" in answer.text
