"""The unanswered-question store: what a record keeps, and the SQL store on SQLite and
PostgreSQL."""

from __future__ import annotations

from datetime import UTC

import pytest
from pydantic import ValidationError

from bot.database import upgrade_async
from bot.models import MAX_QUESTION_LENGTH, UnansweredQuestionCreate
from bot.runtime import Runtime
from bot.unanswered import SqlUnansweredLog, UnansweredLog, unanswered_record
from enrollment.db import create_engine


def test_unanswered_record_keeps_question_language_best_guess_and_score() -> None:
    record = unanswered_record(
        " 北京明天天气怎么样 ", lang="zh", best_id="renewal", score=0.2, source="slack"
    )
    assert record is not None
    assert (record.question, record.language, record.best_id, record.score, record.source) == (
        "北京明天天气怎么样",
        "zh",
        "renewal",
        0.2,
        "slack",
    )


def test_unanswered_record_truncates_clamps_and_skips_blank() -> None:
    record = unanswered_record("blah " * 500, lang="en", best_id=None, score=1.7, source="x" * 40)
    assert record is not None
    assert len(record.question) == MAX_QUESTION_LENGTH
    assert record.score == 1.0
    assert len(record.source) == 32
    assert unanswered_record("   ", lang="en", best_id=None, score=0.1, source="cli") is None


def test_unanswered_create_validates_score() -> None:
    with pytest.raises(ValidationError):
        UnansweredQuestionCreate.model_validate(
            {"question": "q", "language": "en", "score": 1.5, "source": "cli"}
        )


async def test_sql_store_records_and_lists_pending(database_url: str) -> None:
    await upgrade_async(database_url)
    engine = create_engine(database_url)
    try:
        store: UnansweredLog = SqlUnansweredLog(engine)
        for text in ("first question", "第二个问题"):
            await store.record(text, lang="en", best_id=None, score=0.1, source="test")
        pending = await SqlUnansweredLog(engine).pending()
    finally:
        await engine.dispose()
    assert [p.question for p in pending] == ["first question", "第二个问题"]
    assert all(p.asked_at.tzinfo is not None for p in pending)
    assert all(p.asked_at.utcoffset() == UTC.utcoffset(None) for p in pending)
    assert not any(p.reviewed for p in pending)


async def test_unanswered_questions_are_stored_trimmed(runtime: Runtime) -> None:
    store = SqlUnansweredLog(runtime.engine)
    await store.record("x" * 5000, lang="en", best_id=None, score=1.7, source="slack")
    await store.record("   ", lang="en", best_id=None, score=0.1, source="slack")
    [kept] = await store.pending()
    assert len(kept.question) == 1000
    assert kept.score == 1.0
