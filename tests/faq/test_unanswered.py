"""Unanswered questions: the pure record helper and the SQL sink on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC

import pytest
from pydantic import ValidationError

from bot.database import upgrade_async
from bot.unanswered import SqlUnansweredSink
from enrollment.db import create_engine
from faq.knowledge import KnowledgeBase
from faq.models import MAX_QUESTION_LENGTH, UnansweredQuestionCreate, UnansweredSink, unanswered


def test_unanswered_is_none_for_a_confident_answer(kb: KnowledgeBase) -> None:
    assert unanswered(kb.ask("How do I renew my certificate?"), source="slack") is None


def test_unanswered_keeps_question_language_best_guess_and_score(kb: KnowledgeBase) -> None:
    answer = kb.ask("北京明天天气怎么样")
    record = unanswered(answer, source="slack")
    assert record is not None
    assert record.question == "北京明天天气怎么样"
    assert record.language == "zh"
    assert record.best_id == answer.best_id
    assert record.score == answer.score
    assert record.source == "slack"


def test_unanswered_truncates_long_questions_and_skips_blank(kb: KnowledgeBase) -> None:
    record = unanswered(kb.ask("blah " * 500), source="cli")
    assert record is not None
    assert len(record.question) == MAX_QUESTION_LENGTH
    assert unanswered(kb.ask("   "), source="cli") is None


def test_unanswered_create_validates_score() -> None:
    with pytest.raises(ValidationError):
        UnansweredQuestionCreate.model_validate(
            {"question": "q", "language": "en", "score": 1.5, "source": "cli"}
        )


async def test_sql_sink_records_and_lists_pending(database_url: str) -> None:
    await upgrade_async(database_url)
    engine = create_engine(database_url)
    try:
        sink: UnansweredSink = SqlUnansweredSink(engine)
        for text in ("first question", "第二个问题"):
            await sink.record(
                UnansweredQuestionCreate(
                    question=text, language="en", best_id=None, score=0.1, source="test"
                )
            )
        pending = await SqlUnansweredSink(engine).pending()
    finally:
        await engine.dispose()
    assert [p.question for p in pending] == ["first question", "第二个问题"]
    assert all(p.asked_at.tzinfo is not None for p in pending)
    assert all(p.asked_at.utcoffset() == UTC.utcoffset(None) for p in pending)
    assert not any(p.reviewed for p in pending)
