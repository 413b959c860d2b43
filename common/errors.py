"""The root of every error certdesk raises on purpose.

Each room hangs its errors under :class:`CertdeskError`: ``enrollment.errors`` (links,
enrollments, CSRs, policy), ``usbkey.pkcs11.errors`` (tokens and the holder's client),
``faq.errors`` (entries, the inspector) and ``scheduler.errors`` (delivery). Every error carries
a stable machine ``code`` (the API's ``error.code``), the HTTP status an API answers with, and a
message that says what happened and what to do next.
"""

from __future__ import annotations


class CertdeskError(Exception):
    """Base of every certdesk error."""

    code: str = "error"
    status: int = 400

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status

    def to_json(self) -> dict[str, dict[str, str]]:
        return {"error": {"code": self.code, "message": self.message}}
