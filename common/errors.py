"""The root of every error certdesk raises on purpose.

Every error carries a stable machine ``code`` (the API's ``error.code``), the HTTP status an API
answers with, and a message that says what happened and what to do next. Each room hangs its own
tree under this one root (the leaves are drawn in each room's ``errors`` module)::

    CertdeskError                 error
    ├── enrollment.errors         links, enrollments, credentials, CSRs, policy, certificates
    │   (LinkError, EnrollmentError, RequestInvalid, CsrError, PolicyError, …)
    ├── enrollment.possession     PossessionNotProven, ChallengeInvalid, TooManyChallenges
    ├── usbkey.pkcs11.errors      TokenError: the USB key, its module and PIN, the holder's client
    ├── faq.errors                FaqError: knowledge entries, the certificate inspector
    └── scheduler.errors          DeliveryError: a reminder could not be delivered
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
