"""Certificate revocation lists: reasons and the CRL itself. Pure functions, no I/O.

Signing is blocking (the CA key may live on an HSM): call :func:`build_crl` off the event loop.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from cryptography import x509

from enrollment.kinds import revocation_reason

if TYPE_CHECKING:
    from enrollment.ca.authority import IssuingCA


def parse_reason(text: str) -> x509.ReasonFlags:
    """``keyCompromise``, ``key-compromise`` and ``KEY_COMPROMISE`` all name one reason (the
    reasons RA staff may give: :class:`enrollment.kinds.RevocationReason`)."""
    return x509.ReasonFlags(revocation_reason(text).value)


def normalize_serial(text: str) -> str:
    """A serial as stored: lowercase hex without leading zeros.

    Accepts what people copy from tools: ``serial=0A1B``, ``0a:1b``, ``0x0A1B``.
    """
    cleaned = text.strip().lower().removeprefix("serial=").removeprefix("0x")
    cleaned = re.sub(r"[\s:]", "", cleaned).lstrip("0")
    if not cleaned or not re.fullmatch(r"[0-9a-f]{1,64}", cleaned):
        return ""
    return cleaned


@dataclass(frozen=True, slots=True, kw_only=True)
class RevokedEntry:
    serial: str  # lowercase hex, as stored
    revoked_at: datetime
    reason: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class SerialState:
    """What the CA knows of a serial now: never issued, issued and not revoked, or revoked."""

    issued: bool
    revoked: RevokedEntry | None = None


def build_crl(
    *,
    ca: IssuingCA,
    number: int,
    revoked: Sequence[RevokedEntry],
    this_update: datetime,
    next_update: datetime,
) -> x509.CertificateRevocationList:
    """A CRL of the issuing CA, signed by its key. Blocking (may call an HSM)."""
    from enrollment.ca.authority import signature_hash  # the reasons alone stay light (CLI)

    if next_update <= this_update:
        raise ValueError("next_update must come after this_update")
    ski = ca.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.certificate.subject)
        .last_update(this_update)
        .next_update(next_update)
        .add_extension(x509.CRLNumber(number), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski.value),
            critical=False,
        )
    )
    for entry in revoked:
        revoked_builder = (
            x509.RevokedCertificateBuilder()
            .serial_number(int(entry.serial, 16))
            .revocation_date(entry.revoked_at)
        )
        # RFC 5280 5.3.1: omit the reason code rather than say "unspecified".
        if entry.reason and entry.reason != x509.ReasonFlags.unspecified.value:
            revoked_builder = revoked_builder.add_extension(
                x509.CRLReason(x509.ReasonFlags(entry.reason)), critical=False
            )
        builder = builder.add_revoked_certificate(revoked_builder.build())
    return builder.sign(ca.private_key, signature_hash(ca.private_key))
