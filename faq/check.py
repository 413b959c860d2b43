"""``certdesk faq check``: what an RA should fix in its entries before the bot answers with them.

Pure over a knowledge base (the files were already validated by loading it):

- **collisions**: an entry's own example question that the knowledge base answers with another
  entry (the two entries claim the same question; one of them will always lose it);
- **missing translations**: an operator entry without a table for a language (its texts fall
  back to another language's);
- **few examples**: fewer than :data:`RECOMMENDED_QUESTIONS` example questions in a language
  (an entry needs :data:`~faq.knowledge.MIN_QUESTIONS` to load; with few more it answers only
  near-verbatim questions).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from common.language import LANGUAGES, Lang
from faq.knowledge import KnowledgeBase

RECOMMENDED_QUESTIONS = 10


@dataclass(frozen=True, slots=True)
class Collision:
    entry_id: str
    language: Lang
    question: str
    answered_by: str
    score: float


@dataclass(frozen=True, slots=True)
class Report:
    entries: int
    collisions: tuple[Collision, ...] = ()
    untranslated: Mapping[str, tuple[Lang, ...]] = field(default_factory=dict)
    few_examples: Mapping[str, Mapping[Lang, int]] = field(default_factory=dict)

    @property
    def clean(self) -> bool:
        """No collision and every language written (few examples is advice, not a failure)."""
        return not self.collisions and not self.untranslated

    def to_json(self) -> dict[str, object]:
        return {
            "entries": self.entries,
            "collisions": [
                {
                    "entry": c.entry_id,
                    "language": c.language,
                    "question": c.question,
                    "answered_by": c.answered_by,
                    "score": round(c.score, 4),
                }
                for c in self.collisions
            ],
            "missing_translations": {k: list(v) for k, v in self.untranslated.items()},
            "few_examples": {k: dict(v) for k, v in self.few_examples.items()},
        }


def check(kb: KnowledgeBase) -> Report:
    """Collisions, missing translations and thin entries in ``kb``."""
    collisions = []
    for entry in kb.entries.values():
        for language in LANGUAGES:
            if language in entry.untranslated:
                continue
            for question in entry.questions(language):
                ranked = kb.rank(question)
                if ranked and ranked[0].entry_id != entry.id:
                    collisions.append(
                        Collision(entry.id, language, question, ranked[0].entry_id, ranked[0].score)
                    )
    few = {
        entry.id: counts
        for entry in kb.entries.values()
        if (
            counts := {
                language: len(entry.questions(language))
                for language in LANGUAGES
                if language not in entry.untranslated
                and len(entry.questions(language)) < RECOMMENDED_QUESTIONS
            }
        )
    }
    return Report(
        entries=len(kb.entries),
        collisions=tuple(collisions),
        untranslated={e.id: e.untranslated for e in kb.entries.values() if e.untranslated},
        few_examples=few,
    )
