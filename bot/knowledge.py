"""The knowledge module and the certificate inspector, as the dialog sees them.

Until the knowledge room (``faq/``) is available this returns nothing, and the bot answers
every question with an offer to ask RA staff.
"""

from __future__ import annotations

from bot.dialog import CertificateReader, Knowledge


def load_knowledge() -> Knowledge | None:
    return None


def certificate_reader() -> CertificateReader | None:
    return None
