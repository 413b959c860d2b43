"""Questions the knowledge base could not answer, kept for RA staff to review.

The table follows SQLModel's Base / Create / Public / table pattern; Alembic owns the schema
(``bot/migrations``). The knowledge room does no I/O itself: the bot implements
:class:`UnansweredSink` over its database and hands it to whoever asks questions.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

from faq.knowledge import Answer

MAX_QUESTION_LENGTH = 1000


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend; naive ones are refused.

    (The same column type as the enrollment room's; the rooms do not import each other.)
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: certdesk stores only aware UTC times")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class UnansweredQuestionBase(SQLModel):
    question: str = Field(min_length=1, max_length=MAX_QUESTION_LENGTH)
    language: str = Field(max_length=8)
    best_id: str | None = Field(default=None, max_length=64)
    score: float = Field(ge=0, le=1)
    source: str = Field(max_length=32)


class UnansweredQuestionCreate(UnansweredQuestionBase):
    """What the sink is given: the question, its language, the best guess and where it came from."""


class UnansweredQuestion(UnansweredQuestionBase, table=True):
    __tablename__ = "unanswered_question"

    id: int | None = Field(default=None, primary_key=True)
    asked_at: datetime = Field(
        default_factory=utcnow, sa_type=UTCDateTime, nullable=False, index=True
    )
    reviewed: bool = Field(default=False, index=True)


class UnansweredQuestionPublic(UnansweredQuestionBase):
    id: int
    asked_at: datetime
    reviewed: bool


class UnansweredSink(Protocol):
    """Where questions without a confident answer go (the bot stores them in its database)."""

    async def record(self, question: UnansweredQuestionCreate) -> None: ...


def unanswered(answer: Answer, *, source: str) -> UnansweredQuestionCreate | None:
    """The record to keep for ``answer``, or ``None`` when it was answered confidently.

    "Did you mean" counts as unanswered; the best guess is kept in ``best_id`` either way.
    """
    if answer.id is not None:
        return None
    question = answer.question.strip()[:MAX_QUESTION_LENGTH]
    if not question:
        return None
    return UnansweredQuestionCreate(
        question=question,
        language=answer.language,
        best_id=answer.best_id,
        score=answer.score,
        source=source,
    )
