"""The root of every error certdesk raises on purpose.

Every error carries a stable machine ``code`` (the API's ``error.code``), the HTTP status an API
answers with, and a message that says what happened and what to do next. A class declares its
code and status in its header, ``class LinkUnknown(LinkError, code="link_unknown", status=404)``
(a subclass that names neither inherits its parent's). An error whose text never varies declares
it once as its class's ``message``; one whose text names a value builds it in ``__init__`` and
passes it up. Each room hangs its own tree under this one root (the leaves are drawn in each
room's ``errors`` module)::

    CertdeskError                 error
    ├── enrollment.errors         links, enrollments, credentials, CSRs, policy, certificates
    │   (LinkError, EnrollmentError, RequestInvalid, CsrError, PolicyError, …)
    ├── enrollment.possession     PossessionNotProven, ChallengeInvalid, TooManyChallenges
    ├── usbkey.pkcs11.errors      TokenError: the USB key, its module and PIN, the holder's client
    ├── faq.errors                FaqError: knowledge entries, the certificate inspector
    └── scheduler.errors          DeliveryError: a reminder could not be delivered
"""

from __future__ import annotations

import re
from typing import Any

_CODE = re.compile(r"[a-z][a-z0-9_]*")


class CertdeskError(Exception):
    """Base of every certdesk error."""

    code: str = "error"
    status: int = 400
    message: str = ""
    """The fixed text of an error that takes no parameters; used when no message is passed."""
    case: str | None = None
    """A variant of ``code`` whose advice differs (an expired *renewal* link): translations
    are looked up under ``code.case`` first."""

    def __init_subclass__(
        cls, *, code: str | None = None, status: int | None = None, **kwargs: Any
    ) -> None:
        super().__init_subclass__(**kwargs)
        if code is not None:
            if not _CODE.fullmatch(code):
                raise TypeError(f"{cls.__name__}: code {code!r} is not lower_snake_case")
            cls.code = code
        if status is not None:
            if not 400 <= status <= 599:
                raise TypeError(f"{cls.__name__}: status {status} is not an HTTP error status")
            cls.status = status

    def __init__(
        self, message: str | None = None, *, code: str | None = None, status: int | None = None
    ):
        if message is None:
            message = self.message
        if not message:
            raise TypeError(f"{type(self).__name__} needs a message: pass one or declare it")
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status

    def to_json(self) -> dict[str, dict[str, str]]:
        return {"error": {"code": self.code, "message": self.message}}
