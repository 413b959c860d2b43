"""The knowledge room (``faq/``) as the bot uses it: the knowledge base and the certificate
inspector.

The dialog codes against the protocols in :mod:`bot.dialog`; this module adapts the knowledge
room to them. The questions it cannot answer are kept by :mod:`bot.unanswered`.
"""

from __future__ import annotations

import logging

from bot.dialog import CertificateReader, FileFindings, Knowledge
from bot.settings import Settings
from common.time import utcnow
from faq import (
    InspectionError,
    KnowledgeBase,
    PasswordRequired,
    WrongPassword,
    inspect_certificates,
)

log = logging.getLogger(__name__)


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
            certificates=inspection.certificates, has_private_key=inspection.has_private_key
        )

    return read
