"""The question flow, one for every channel (Slack DMs and mentions, the local chat): ask the
knowledge module, keep what it cannot answer for RA staff, and build the reply.

The decisions are the dialog's (:mod:`bot.dialog`, pure); this flow adds the one piece of I/O,
the unanswered-question store.
"""

from __future__ import annotations

import asyncio

from bot import dialog, messages
from bot.dialog import Knowledge, Reply
from bot.unanswered import UnansweredLog
from common.language import Lang


class Questions:
    """Answers questions for one channel; ``source`` names it in the unanswered store."""

    def __init__(
        self, *, knowledge: Knowledge | None, unanswered: UnansweredLog, source: str
    ) -> None:
        self.knowledge = knowledge
        self.unanswered = unanswered
        self.source = source

    async def answer(self, text: str, lang: Lang) -> Reply:
        """A knowledge answer, or the menu for a greeting; questions it cannot answer with
        confidence (including "did you mean") are kept for RA staff."""
        question = text.strip()
        if not question or dialog.is_greeting(question):
            return dialog.welcome(lang)
        if self.knowledge is None:
            await self.unanswered.record(
                question, lang=lang, best_id=None, score=0.0, source=self.source
            )
            return Reply(
                messages.text("not_understood", lang), (dialog.talk_to_ra_button(lang, question),)
            )
        # In a worker thread: a question the words alone cannot answer takes the knowledge
        # base's second look (a sentence embedding, 1.6-3.5 ms; the model loads on the first).
        result = await asyncio.to_thread(self.knowledge.ask, question, language=lang)
        if result.id is None:
            await self.unanswered.record(
                question, lang=lang, best_id=result.best_id, score=result.score, source=self.source
            )
        return dialog.answer(question, result, lang)

    def suggestion(self, entry_id: str, lang: Lang) -> Reply:
        """The answer of a "did you mean" entry the user picked."""
        entry = self.knowledge.entries.get(entry_id) if self.knowledge is not None else None
        return dialog.entry_answer(entry, lang)

    async def feedback(self, *, helpful: bool, value: str, lang: Lang) -> Reply:
        """Thanks for a click on "helpful" / "not helpful"; the question of a "not helpful"
        answer is kept for RA staff."""
        if not helpful and value:
            await self.unanswered.record(
                value, lang=lang, best_id=None, score=0.0, source=f"{self.source}:not-helpful"
            )
        return dialog.feedback(helpful, value, lang)
