"""The values the enrollment tables hold in their status, delivery, notify, purpose and reason
columns (:mod:`enrollment.models` re-exports them): plain enums, importable without SQLAlchemy or
cryptography, so the CLI can name them in its help."""

from __future__ import annotations

import enum
import re

from enrollment.errors import RevocationReasonInvalid


class EnrollmentStatus(enum.StrEnum):
    PENDING = "pending"
    ISSUED = "issued"
    CANCELLED = "cancelled"


class CertificateStatus(enum.StrEnum):
    ACTIVE = "active"
    SUPERSEDED = "superseded"
    REVOKED = "revoked"


class Delivery(enum.StrEnum):
    """Where a certificate's key lives; a renewal delivers the same way."""

    BROWSER = "browser"  # key made in the page (WebCrypto), PKCS#12 saved by the browser
    CSR = "csr"  # the holder's own CSR, chain returned as PEM
    TOKEN = "token"  # noqa: S105 (not a secret) key made on a USB key (PKCS#11)
    SERVER = "server"  # key made by the server, returned once as PKCS#12
    CMP = "cmp"  # the holder's own CMP client (openssl cmp), key made there


class Notify(enum.StrEnum):
    """How the holder of an enrollment is told of its links (unset: Slack first, else mail)."""

    SLACK = "slack"
    EMAIL = "email"
    BOTH = "both"


class LinkPurpose(enum.StrEnum):
    ENROLL = "enroll"
    RENEW = "renew"
    CHALLENGE = "challenge"  # a renewal-by-possession challenge (5 minutes, works once)


class RevocationReason(enum.StrEnum):
    """The RFC 5280 reasons that make sense for an end-entity certificate revoked by RA staff.

    The values are those of cryptography's ``x509.ReasonFlags`` (``enrollment.ca.crl`` maps them
    and a test pins them), as the certificate table's ``reason`` column stores them.
    """

    UNSPECIFIED = "unspecified"
    KEY_COMPROMISE = "keyCompromise"
    AFFILIATION_CHANGED = "affiliationChanged"
    SUPERSEDED = "superseded"
    CESSATION_OF_OPERATION = "cessationOfOperation"
    PRIVILEGE_WITHDRAWN = "privilegeWithdrawn"


REASON_NAMES: tuple[str, ...] = tuple(reason.value for reason in RevocationReason)


def _squash(text: str) -> str:
    return re.sub(r"[\s_-]", "", text).lower()


_BY_SQUASHED = {_squash(reason.value): reason for reason in RevocationReason}


def revocation_reason(text: str) -> RevocationReason:
    """``keyCompromise``, ``key-compromise`` and ``KEY_COMPROMISE`` all name one reason."""
    reason = _BY_SQUASHED.get(_squash(text))
    if reason is None:
        raise RevocationReasonInvalid(
            f"{text!r} is not a revocation reason. Use one of: {', '.join(REASON_NAMES)}."
        )
    return reason
