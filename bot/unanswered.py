"""The database side of the knowledge room's :class:`~faq.models.UnansweredSink`: questions the
bot could not answer confidently, kept for RA staff to review."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select

from enrollment.db import session_factory
from faq.models import UnansweredQuestion, UnansweredQuestionCreate, UnansweredQuestionPublic


class SqlUnansweredSink:
    """Stores unanswered questions in the ``unanswered_question`` table."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = session_factory(engine)

    async def record(self, question: UnansweredQuestionCreate) -> None:
        async with self._sessions() as session:
            session.add(UnansweredQuestion.model_validate(question))
            await session.commit()

    async def pending(self, *, limit: int = 100) -> list[UnansweredQuestionPublic]:
        """Not yet reviewed questions, oldest first."""
        async with self._sessions() as session:
            result = await session.execute(
                select(UnansweredQuestion)
                .where(col(UnansweredQuestion.reviewed).is_(False))
                .order_by(col(UnansweredQuestion.asked_at), col(UnansweredQuestion.id))
                .limit(limit)
            )
            return [UnansweredQuestionPublic.model_validate(row) for row in result.scalars()]
