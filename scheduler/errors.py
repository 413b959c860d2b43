"""The scheduler room's errors::

CertdeskError (common.errors)
└── DeliveryError            delivery_failed: a notifier could not deliver a reminder
                             (``permanent=True``: retrying cannot help, e.g. no such user)
"""

from __future__ import annotations

from common.errors import CertdeskError


class DeliveryError(CertdeskError, code="delivery_failed", status=502):
    """Raised by a ``Notifier`` when a reminder could not be delivered.

    A transient error (the default) is retried by a later pass; a permanent one marks the
    reminder ``undeliverable`` at once.
    """

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent
