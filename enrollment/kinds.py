"""The values the enrollment tables hold in their status, delivery, notify and purpose columns
(:mod:`enrollment.models` re-exports them): plain enums, importable without SQLAlchemy."""

from __future__ import annotations

import enum


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
