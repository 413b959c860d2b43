"""The unanswered-question store: questions the bot (Slack, the local chat, ``certdesk ask``)
could not answer confidently, kept in the ``unanswered_question`` table for RA staff to review.

The flows code against :class:`UnansweredLog`; :class:`SqlUnansweredLog` is the one store.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import func, or_, update
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select

from bot.models import (
    MAX_QUESTION_LENGTH,
    UnansweredQuestion,
    UnansweredQuestionCreate,
    UnansweredQuestionPublic,
)
from common.time import utcnow
from enrollment.reads import read_session
from enrollment.writer import writes_for

log = logging.getLogger(__name__)

MAX_SOURCE_LENGTH = 32
# Questions waiting for review, at most: past it, new ones are dropped (and logged) until staff
# review some, so an anonymous page cannot fill the disk.
MAX_PENDING = 2000


class UnansweredLog(Protocol):
    """Where questions without a confident answer go, for RA staff to review."""

    async def record(
        self, question: str, *, lang: str, best_id: str | None, score: float, source: str
    ) -> None:
        """Keep ``question`` (whitespace collapsed, at most 1000 characters; a blank one, one
        already waiting for review, or any past :data:`MAX_PENDING` waiting is not kept)."""
        ...

    async def pending(self, *, limit: int = 20) -> Sequence[UnansweredQuestionPublic]:
        """Questions not reviewed yet, oldest first."""
        ...

    async def waiting(
        self, *, since: datetime | None = None, limit: int = ...
    ) -> Sequence[UnansweredQuestionPublic]:
        """Every question waiting for review (asked, or asked again, since ``since``)."""
        ...

    async def get(self, question_id: int) -> UnansweredQuestionPublic | None:
        """One stored question, reviewed or not."""
        ...

    async def mark_reviewed(self, ids: Sequence[int]) -> int:
        """Mark ``ids`` reviewed; how many were waiting."""
        ...


def unanswered_record(
    question: str, *, lang: str, best_id: str | None, score: float, source: str
) -> UnansweredQuestionCreate | None:
    """The row to keep for ``question``, or ``None`` when it is blank."""
    text = " ".join(question.split())[:MAX_QUESTION_LENGTH]
    if not text:
        return None
    return UnansweredQuestionCreate(
        question=text,
        language=lang,
        best_id=best_id,
        score=min(max(score, 0.0), 1.0),
        source=source[:MAX_SOURCE_LENGTH],
    )


class SqlUnansweredLog:
    """The store over the database."""

    def __init__(self, engine: AsyncEngine, *, max_pending: int = MAX_PENDING) -> None:
        self._engine = engine
        self._writes = writes_for(engine)
        self._max_pending = max_pending

    async def record(
        self, question: str, *, lang: str, best_id: str | None, score: float, source: str
    ) -> None:
        row = unanswered_record(question, lang=lang, best_id=best_id, score=score, source=source)
        if row is None:
            return
        waiting = col(UnansweredQuestion.reviewed).is_(False)
        async with self._writes.unit() as session:
            counted = await session.execute(
                update(UnansweredQuestion)
                .where(waiting)
                .where(func.lower(col(UnansweredQuestion.question)) == row.question.lower())
                .values(times_asked=col(UnansweredQuestion.times_asked) + 1, last_asked_at=utcnow())
            )
            if _rowcount(counted):
                return  # already waiting for review: one row, counted
            count = await session.execute(
                select(func.count()).select_from(UnansweredQuestion).where(waiting)
            )
            if count.scalar_one() >= self._max_pending:
                log.warning(
                    "unanswered question dropped: too many are waiting for review",
                    extra={"pending": self._max_pending, "source": row.source},
                )
                return
            session.add(UnansweredQuestion.model_validate(row))

    async def waiting(
        self, *, since: datetime | None = None, limit: int = MAX_PENDING
    ) -> list[UnansweredQuestionPublic]:
        """Every question waiting for review (asked, or asked again, since ``since``)."""
        query = select(UnansweredQuestion).where(col(UnansweredQuestion.reviewed).is_(False))
        if since is not None:
            query = query.where(
                or_(
                    col(UnansweredQuestion.asked_at) >= since,
                    col(UnansweredQuestion.last_asked_at) >= since,
                )
            )
        async with read_session(self._engine) as session:
            result = await session.execute(
                query.order_by(col(UnansweredQuestion.asked_at), col(UnansweredQuestion.id)).limit(
                    limit
                )
            )
            return [UnansweredQuestionPublic.model_validate(row) for row in result.scalars()]

    async def get(self, question_id: int) -> UnansweredQuestionPublic | None:
        async with read_session(self._engine) as session:
            row = await session.get(UnansweredQuestion, question_id)
            return None if row is None else UnansweredQuestionPublic.model_validate(row)

    async def mark_reviewed(self, ids: Sequence[int]) -> int:
        """Mark the questions ``ids`` reviewed (taught, or dismissed); how many were waiting."""
        if not ids:
            return 0
        async with self._writes.unit() as session:
            result = await session.execute(
                update(UnansweredQuestion)
                .where(col(UnansweredQuestion.id).in_(list(ids)))
                .where(col(UnansweredQuestion.reviewed).is_(False))
                .values(reviewed=True)
            )
        return _rowcount(result)

    async def pending(self, *, limit: int = 20) -> list[UnansweredQuestionPublic]:
        async with read_session(self._engine) as session:
            result = await session.execute(
                select(UnansweredQuestion)
                .where(col(UnansweredQuestion.reviewed).is_(False))
                .order_by(col(UnansweredQuestion.asked_at), col(UnansweredQuestion.id))
                .limit(limit)
            )
            return [UnansweredQuestionPublic.model_validate(row) for row in result.scalars()]


def _rowcount(result: Any) -> int:
    """Rows an UPDATE changed (SQLAlchemy types the result of ``execute`` loosely)."""
    return int(result.rowcount or 0)
