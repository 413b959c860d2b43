"""An RA's own entries: merged with the shipped ones, validated with file and line, checked for
collisions, missing translations and thin entries, edited without losing comments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

import pytest

from faq.check import check
from faq.editing import with_example
from faq.errors import EntryInvalid, KnowledgeDirMissing
from faq.knowledge import KnowledgeBase, parse_entry
from faq.review import group_questions, question_key
from faq.sources import directory_digest, load_all

OFFICE_HOURS = """id = "office-hours"
action = "escalate"

[en]
title = "RA office hours and phone number"
keywords = ["office hours", "phone", "opening hours"]
questions = [
    "what are the RA office hours",
    "when is the RA office open",
    "RA phone number",
    "how do I call the RA",
    "opening hours of the registration authority",
    "is the RA open on saturday",
]
answer = "The Example RA desk is open Monday to Friday, 9:00-17:00, on +1 555 0100."

[zh]
title = "RA 办公时间和电话"
keywords = ["办公时间", "电话", "营业时间"]
questions = [
    "RA 几点上班",
    "RA 办公时间是什么",
    "RA 的电话是多少",
    "怎么给 RA 打电话",
    "注册机构周六开门吗",
    "RA 营业时间",
]
answer = "Example RA 服务台周一至周五 9:00-17:00 办公，电话 +1 555 0100。"
"""


def shipped(entry_id: str) -> str:
    return (resources.files("faq.entries") / f"{entry_id}.toml").read_text(encoding="utf-8")


def test_operator_entry_adds_a_topic_and_replaces_a_shipped_one(tmp_path: Path) -> None:
    (tmp_path / "office-hours.toml").write_text(OFFICE_HOURS, encoding="utf-8")
    replaced = shipped("lost-codes").replace(
        "RA staff will issue new ones", "Call the Example RA desk on +1 555 0100 for new ones"
    )
    (tmp_path / "lost-codes.toml").write_text(replaced, encoding="utf-8")
    entries, origins = load_all(tmp_path)
    assert origins["office-hours"] == "operator"
    assert origins["lost-codes"] == "replaced"
    assert origins["renewal"] == "shipped"
    assert len(entries) == len(load_all(None)[0]) + 1
    kb = KnowledgeBase(entries=entries)
    assert kb.ask("when is the RA office open?").id == "office-hours"
    assert kb.ask("RA 几点上班").id == "office-hours"
    lost = kb.ask("I lost my authorization code")
    assert lost.id == "lost-codes"
    assert "+1 555 0100" in lost.text


def line_with(content: str, marker: str) -> int:
    return next(n for n, line in enumerate(content.splitlines(), 1) if marker in line)


THIN = OFFICE_HOURS.replace('    "RA phone number",\n    "how do I call the RA",\n', "").replace(
    '    "opening hours of the registration authority",\n', ""
)


@pytest.mark.parametrize(
    ("content", "marker", "problem"),
    [
        (
            OFFICE_HOURS.replace('title = "RA 办公时间和电话"', "title = "),
            "title = \n",
            "not valid TOML",
        ),
        (
            OFFICE_HOURS.replace('action = "escalate"', 'action = "dance"'),
            "action =",
            "'dance' is not one of",
        ),
        (THIN, "questions", "[en] needs at least 5 example questions, has 3"),
        (
            OFFICE_HOURS.replace('answer = "Example RA', 'answer = 3 # "'),
            "answer = 3",
            "'answer' must be a string",
        ),
        (OFFICE_HOURS.replace('id = "office-hours"', 'id = "hours"'), "id =", "file name must be"),
    ],
)
def test_a_broken_operator_file_is_one_line_with_file_and_line(
    tmp_path: Path, content: str, marker: str, problem: str
) -> None:
    path = tmp_path / "office-hours.toml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(EntryInvalid) as caught:
        load_all(tmp_path)
    message = caught.value.message
    line = (
        line_with(content + "\n", marker.rstrip("\n"))
        if marker != "title = \n"
        else next(n for n, text in enumerate(content.splitlines(), 1) if text == "title = ")
    )
    assert "\n" not in message
    assert message.startswith(f"knowledge entry {path}:{line}: "), message
    assert problem in message


def test_a_missing_operator_directory_is_named() -> None:
    with pytest.raises(KnowledgeDirMissing, match="/nowhere/knowledge"):
        load_all(Path("/nowhere/knowledge"))


def test_an_untranslated_operator_entry_falls_back_and_is_reported(tmp_path: Path) -> None:
    english_only = OFFICE_HOURS.split("[zh]")[0]
    (tmp_path / "office-hours.toml").write_text(english_only, encoding="utf-8")
    kb = KnowledgeBase.load(operator_dir=tmp_path)
    entry = kb.entries["office-hours"]
    assert entry.untranslated == ("zh",)
    assert entry.answer("zh") == entry.answer("en")
    report = check(kb)
    assert report.untranslated == {"office-hours": ("zh",)}
    assert not report.clean
    with pytest.raises(EntryInvalid, match=r"missing table \[zh\]"):  # shipped ones must have both
        parse_entry("x.toml", english_only)


def test_check_reports_a_planted_collision_and_a_thin_entry(tmp_path: Path) -> None:
    renewal_example = parse_entry("renewal.toml", shipped("renewal")).questions("en")[0]
    planted = OFFICE_HOURS.replace(
        '    "is the RA open on saturday",\n',
        f'    "is the RA open on saturday",\n    "{renewal_example}",\n',
    )
    (tmp_path / "office-hours.toml").write_text(planted, encoding="utf-8")
    report = check(KnowledgeBase.load(operator_dir=tmp_path))
    claimed = {
        (c.entry_id, c.answered_by) for c in report.collisions if c.question == renewal_example
    }
    assert claimed & {("office-hours", "renewal"), ("renewal", "office-hours")}, report.collisions
    assert report.few_examples["office-hours"] == {"en": 7, "zh": 6}
    assert not report.clean


def test_the_shipped_entries_are_clean() -> None:
    report = check(KnowledgeBase.load())
    assert report.collisions == ()
    assert report.clean


def test_adding_an_example_keeps_comments_and_stays_valid() -> None:
    content = "# Example RA: our own wording\n" + OFFICE_HOURS
    updated = with_example("x.toml", content, language="zh", question="  RA 中午  休息吗 ")
    assert updated.startswith("# Example RA: our own wording\n")
    entry = parse_entry("x.toml", updated)
    assert entry.questions("zh")[-1] == "RA 中午 休息吗"
    assert entry.questions("en") == parse_entry("x.toml", OFFICE_HOURS).questions("en")
    assert with_example("x.toml", updated, language="zh", question="RA 中午 休息吗") == updated
    with pytest.raises(EntryInvalid, match="empty"):
        with_example("x.toml", content, language="en", question="   ")
    with pytest.raises(EntryInvalid, match=r"no \[zh\] table"):
        with_example("x.toml", OFFICE_HOURS.split("[zh]")[0], language="zh", question="你好吗")


def test_directory_digest_follows_the_files(tmp_path: Path) -> None:
    empty = directory_digest(tmp_path)
    assert directory_digest(None) == ""
    path = tmp_path / "office-hours.toml"
    path.write_text(OFFICE_HOURS, encoding="utf-8")
    written = directory_digest(tmp_path)
    assert written != empty
    path.write_text(OFFICE_HOURS + "\n", encoding="utf-8")
    assert directory_digest(tmp_path) != written


class Row:
    def __init__(self, id: int, question: str, times: int, hours_ago: int, source: str) -> None:
        self.id, self.question, self.times_asked, self.source = id, question, times, source
        self.language, self.score = "en", 0.0
        self.best_id: str | None = None
        self.asked_at = datetime(2026, 11, 1, tzinfo=UTC) - timedelta(hours=hours_ago)
        self.last_asked_at: datetime | None = None


def test_unanswered_questions_are_grouped_by_normalised_text() -> None:
    rows = [
        Row(1, "Keychain says wrong password", 1, 5, "slack"),
        Row(2, "keychain  says WRONG password?", 3, 2, "chat"),
        Row(3, "what is the weather", 1, 1, "chat"),
    ]
    assert question_key(rows[0].question) == question_key(rows[1].question)
    groups = group_questions(rows, KnowledgeBase.load())
    assert [g.count for g in groups] == [4, 1]
    keychain = groups[0]
    assert keychain.question == "keychain  says WRONG password?"
    assert keychain.ids == (1, 2)
    assert keychain.sources == ("chat", "slack")
    assert keychain.near_miss is not None
    assert keychain.first_asked == rows[0].asked_at
