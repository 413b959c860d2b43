"""The one question flow (Slack and the local chat): what is answered, what is kept for staff."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.models import UnansweredQuestionPublic
from bot.questions import Questions
from common.language import Lang
from tests.bot.conftest import FakeKnowledge


@dataclass
class Kept:
    """An unanswered store that keeps (question, source) pairs in memory."""

    rows: list[tuple[str, str | None, str]] = field(default_factory=list)

    async def record(
        self, question: str, *, lang: str, best_id: str | None, score: float, source: str
    ) -> None:
        self.rows.append((question, best_id, source))

    async def pending(self, *, limit: int = 20) -> Sequence[UnansweredQuestionPublic]:
        return []


async def test_confident_answer_is_not_kept() -> None:
    kept = Kept()
    questions = Questions(knowledge=FakeKnowledge(), unanswered=kept, source="chat")
    reply = await questions.answer("where is my CN?", "en")
    assert "Open the certificate's Subject." in reply.text
    assert kept.rows == []


async def test_did_you_mean_and_unknown_questions_are_kept_with_the_source() -> None:
    kept = Kept()
    questions = Questions(knowledge=FakeKnowledge(), unanswered=kept, source="slack")
    await questions.answer("a certificate question", "en")
    await questions.answer("what is the weather", "en")
    assert kept.rows == [
        ("a certificate question", "find-cn-ou-o", "slack"),
        ("what is the weather", None, "slack"),
    ]


async def test_without_knowledge_every_question_is_kept_and_offers_the_ra() -> None:
    kept = Kept()
    questions = Questions(knowledge=None, unanswered=kept, source="chat")
    reply = await questions.answer("  help me please  ", "en")
    assert kept.rows == [("help me please", None, "chat")]
    assert reply.buttons


async def test_greeting_and_blank_get_the_menu_and_are_not_kept() -> None:
    kept = Kept()
    questions = Questions(knowledge=FakeKnowledge(), unanswered=kept, source="chat")
    assert (await questions.answer("hello", "en")).buttons
    assert (await questions.answer("   ", "en")).buttons
    assert kept.rows == []


async def test_not_helpful_feedback_keeps_the_question() -> None:
    kept = Kept()
    questions = Questions(knowledge=FakeKnowledge(), unanswered=kept, source="slack")
    await questions.feedback(helpful=True, value="renewal", lang="en")
    await questions.feedback(helpful=False, value="why is it red", lang="en")
    assert kept.rows == [("why is it red", None, "slack:not-helpful")]


@dataclass
class LoopBoundKnowledge(FakeKnowledge):
    """Knowledge that notes, at each question, whether its thread runs an event loop."""

    on_loop: list[bool] = field(default_factory=list)

    def ask(self, question: str, *, language: Lang | None = None) -> Any:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            self.on_loop.append(False)
        else:
            self.on_loop.append(True)
        return super().ask(question, language=language)


async def test_the_knowledge_base_is_asked_off_the_event_loop() -> None:
    """A second look (a sentence embedding; the first one loads the model) must not hold up
    the loop that acks Slack within 3 s."""
    knowledge = LoopBoundKnowledge()
    questions = Questions(knowledge=knowledge, unanswered=Kept(), source="slack")
    reply = await questions.answer("where is my CN?", "en")
    assert "Open the certificate's Subject." in reply.text
    assert knowledge.on_loop == [False]
