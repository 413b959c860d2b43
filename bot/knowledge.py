"""The knowledge room (``faq/``) as the bot uses it: the knowledge base, the certificate
inspector, and the store of questions it could not answer.

The bot was built in parallel with the knowledge room and codes against the protocols in
:mod:`bot.dialog` and :mod:`bot.escalation`. The imports below wire in ``faq`` where it is
installed; without it every question is offered to RA staff, files cannot be read, and
unanswered questions are kept in memory. (Once ``faq`` is on main, these become plain imports.)
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.dialog import CertificateReader, FileCertificate, FileFindings, Knowledge
from bot.escalation import MemoryUnansweredLog, UnansweredLog, UnansweredView
from enrollment.types import utcnow

log = logging.getLogger(__name__)

MAX_QUESTION_LENGTH = 1000  # the knowledge room's limit for a stored question


def load_knowledge() -> Knowledge | None:
    """The knowledge base shipped with certdesk (blocking: it builds its index)."""
    try:
        from faq import KnowledgeBase  # type: ignore[attr-defined, unused-ignore]
    except ImportError:
        log.warning("the knowledge module is not installed: questions go to RA staff")
        return None
    knowledge: Knowledge = KnowledgeBase.load()
    return knowledge


def certificate_reader() -> CertificateReader | None:
    try:
        from faq import (  # type: ignore[attr-defined, unused-ignore]
            InspectionError,
            PasswordRequired,
            WrongPassword,
            inspect_certificates,
        )
    except ImportError:
        return None

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

    def __init__(self, sink: Any, create: Any) -> None:
        self._sink = sink
        self._create = create

    async def record(
        self, question: str, *, lang: str, best_id: str | None, score: float, source: str
    ) -> None:
        text = question.strip()[:MAX_QUESTION_LENGTH]
        if not text:
            return
        await self._sink.record(
            self._create(
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
    try:
        from faq.models import UnansweredQuestionCreate  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return MemoryUnansweredLog()
    try:
        from bot.unanswered import SqlUnansweredSink  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return MemoryUnansweredLog()
    return SinkUnansweredLog(SqlUnansweredSink(engine), UnansweredQuestionCreate)
