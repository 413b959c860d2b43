"""`certdesk ask` through the real command line, and the unanswered questions it stores."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.models import UnansweredQuestionPublic
from bot.unanswered import SqlUnansweredLog
from enrollment.db import create_engine
from faq.knowledge import KnowledgeBase
from tests.support.processes import Cli


async def _pending(data_dir: Path) -> list[UnansweredQuestionPublic]:
    engine = create_engine(f"sqlite+aiosqlite:///{data_dir / 'certdesk.db'}")
    try:
        return await SqlUnansweredLog(engine).pending(limit=100)
    finally:
        await engine.dispose()


def test_cli_ask_json_prints_exactly_id_score_answer(cli: Cli, kb: KnowledgeBase) -> None:
    result = cli("ask", "How do I renew my certificate?", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) == {"id", "score", "answer"}
    assert data["id"] == "renewal"
    assert 0.0 <= data["score"] <= 1.0
    assert data["answer"] == kb.entries["renewal"].answer("en")


def test_cli_ask_chinese_question_gets_chinese_answer(cli: Cli, kb: KnowledgeBase) -> None:
    data = json.loads(cli("ask", "证书什么时候到期？", "--json").stdout)
    assert data["id"] == "certificate-expiry"
    assert data["answer"] == kb.entries["certificate-expiry"].answer("zh")


def test_cli_ask_off_topic_has_null_id(cli: Cli) -> None:
    data = json.loads(cli("ask", "what's the weather in Beijing", "--json").stdout)
    assert data["id"] is None
    assert "RA staff" in data["answer"]


def test_cli_ask_text_output_is_the_answer(cli: Cli, kb: KnowledgeBase) -> None:
    result = cli("ask", "How do I renew my certificate?")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == kb.entries["renewal"].answer("en")


def test_cli_ask_stdin_writes_one_json_object_per_line(cli: Cli) -> None:
    questions = ["How do I renew my certificate?", "你好", "", "证书怎么下载到 USB Key"]
    result = cli("ask", "--json", "-", input="\n".join(questions) + "\n")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == len(questions)
    answers = [json.loads(line) for line in lines]
    assert [a["id"] for a in answers] == ["renewal", None, None, "download-to-usbkey"]
    assert all(set(a) == {"id", "score", "answer"} for a in answers)


async def test_cli_ask_stores_not_confident_questions_for_review(cli: Cli, data_dir: Path) -> None:
    result = cli("ask", "--json", "-", input="how do I reset my laptop\nHow do I renew my cert?\n")
    assert result.returncode == 0, result.stderr
    pending = await _pending(data_dir)
    assert [p.question for p in pending] == ["how do I reset my laptop"]
    (stored,) = pending
    assert stored.source == "cli"
    assert stored.language == "en"
    assert stored.reviewed is False
    assert stored.asked_at.utcoffset() is not None
    assert stored.score == pytest.approx(
        json.loads(result.stdout.splitlines()[0])["score"], abs=1e-4
    )


def test_cli_ask_still_answers_when_the_store_fails(cli: Cli, tmp_path: Path) -> None:
    """An unusable database is reported on stderr; the answer is printed all the same."""
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("x")
    result = cli(
        "ask",
        "你好",
        "--json",
        env={"CERTDESK_DATABASE_URL": f"sqlite+aiosqlite:///{blocker}/sub/certdesk.db"},
    )
    assert result.returncode == 0
    assert json.loads(result.stdout)["id"] is None
    assert "could not store the unanswered question" in result.stderr
