"""The knowledge room (``faq/``) as the bot uses it: the knowledge base, the certificate
inspector, and the store of questions it could not answer.

The dialog codes against the protocols in :mod:`bot.dialog` and :mod:`bot.escalation`; this
module adapts the knowledge room to them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.dialog import CertificateReader, FileCertificate, FileFindings, Knowledge
from bot.escalation import UnansweredLog, UnansweredView
from bot.settings import Settings
from bot.unanswered import SqlUnansweredSink
from enrollment.types import utcnow
from faq import (
    InspectionError,
    KnowledgeBase,
    PasswordRequired,
    WrongPassword,
    inspect_certificates,
)
from faq.models import UnansweredQuestionCreate

log = logging.getLogger(__name__)

MAX_QUESTION_LENGTH = 1000  # the knowledge room's limit for a stored question


def load_knowledge(settings: Settings) -> Knowledge:
    """The knowledge base shipped with certdesk (blocking: it builds its index, and fits its
    classifier unless an earlier process left it in the data directory's cache)."""
    knowledge: Knowledge = KnowledgeBase.load(cache_dir=settings.cache_dir)
    return knowledge


def certificate_reader() -> CertificateReader:
    def read(data: bytes) -> FileFindings:
        try:
            inspection = inspect_certificates(data, now=utcnow())
        except (PasswordRequired, WrongPassword):
            return FileFindings(has_private_key=True)  # a PKCS#12 file: it holds a key
        except InspectionError:
            return FileFindings()
        return FileFindings(
            certificates=tuple(
                FileCertificate(
                    cn=info.common_name,
                    ous=tuple(info.organizational_units),
                    o=info.organization,
                    issuer=info.issuer,
                    serial=info.serial_hex,
                    not_after=info.not_after,
                    days_left=info.days_left,
                )
                for info in inspection.certificates
            ),
            has_private_key=bool(inspection.has_private_key),
        )

    return read


class SinkUnansweredLog:
    """The knowledge room's ``UnansweredSink`` over the database, as an :class:`UnansweredLog`."""

    def __init__(self, sink: SqlUnansweredSink) -> None:
        self._sink = sink

    async def record(
        self, question: str, *, lang: str, best_id: str | None, score: float, source: str
    ) -> None:
        text = question.strip()[:MAX_QUESTION_LENGTH]
        if not text:
            return
        await self._sink.record(
            UnansweredQuestionCreate(
                question=text,
                language=lang,
                best_id=best_id,
                score=min(max(score, 0.0), 1.0),
                source=source[:32],
            )
        )

    async def pending(self, *, limit: int = 20) -> Sequence[UnansweredView]:
        rows = await self._sink.pending(limit=limit)
        return [
            UnansweredView(question=row.question, lang=row.language, asked_at=row.asked_at)
            for row in rows
        ]


def unanswered_log(engine: AsyncEngine) -> UnansweredLog:
    return SinkUnansweredLog(SqlUnansweredSink(engine))
