"""Reviewing the questions the bot could not answer: spellings of one question grouped, with how
often it was asked and the entry that came nearest (``certdesk faq unanswered`` and the RA's App
Home). Pure: the rows come from the bot's store.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from faq.text import normalize

_TRAILING = re.compile(r"[\s?？!！.。,，~～]+$")


class AskedQuestion(Protocol):
    """One stored question (``bot.models.UnansweredQuestionPublic`` has these)."""

    id: int
    question: str
    language: str
    source: str
    best_id: str | None
    score: float
    times_asked: int
    asked_at: datetime
    last_asked_at: datetime | None


def question_key(question: str) -> str:
    """What groups spellings of one question: normalised, without trailing punctuation."""
    return _TRAILING.sub("", normalize(question))


@dataclass(frozen=True, slots=True)
class QuestionGroup:
    """Spellings of one unanswered question, with how often it was asked and the nearest entry."""

    question: str  # the most asked spelling
    key: str
    count: int
    ids: tuple[int, ...]
    languages: tuple[str, ...]
    sources: tuple[str, ...]
    first_asked: datetime
    last_asked: datetime
    near_miss: str | None
    near_miss_score: float

    def to_json(self) -> dict[str, object]:
        return {
            "question": self.question,
            "count": self.count,
            "ids": list(self.ids),
            "languages": list(self.languages),
            "sources": list(self.sources),
            "first_asked": self.first_asked.isoformat(),
            "last_asked": self.last_asked.isoformat(),
            "near_miss": self.near_miss,
            "near_miss_score": round(self.near_miss_score, 4),
        }


class Ranked(Protocol):
    @property
    def best_id(self) -> str | None: ...
    @property
    def score(self) -> float: ...


class Asks(Protocol):
    """What a knowledge base (or the bot's live one) offers: its answer names the best entry."""

    def ask(self, question: str) -> Ranked: ...


def group_questions(rows: Sequence[AskedQuestion], kb: Asks | None) -> list[QuestionGroup]:
    """``rows`` grouped by :func:`question_key`, most asked first; the near miss is what the
    current knowledge base ranks first (entries may have changed since the question was kept)."""
    by_key: dict[str, list[AskedQuestion]] = {}
    for row in rows:
        by_key.setdefault(question_key(row.question), []).append(row)
    groups = []
    for key, members in by_key.items():
        top = max(members, key=lambda row: row.times_asked)
        nearest = kb.ask(top.question) if kb is not None else None
        groups.append(
            QuestionGroup(
                question=top.question,
                key=key,
                count=sum(row.times_asked for row in members),
                ids=tuple(row.id for row in members),
                languages=tuple(sorted({row.language for row in members})),
                sources=tuple(sorted({row.source for row in members})),
                first_asked=min(row.asked_at for row in members),
                last_asked=max(row.last_asked_at or row.asked_at for row in members),
                near_miss=nearest.best_id if nearest is not None else top.best_id,
                near_miss_score=nearest.score if nearest is not None else top.score,
            )
        )
    groups.sort(key=lambda group: (-group.count, group.first_asked))
    return groups
