"""The delegated OCSP signer: a file key and a certificate the issuing CA gives it.

OCSP responses are signed by this key, never by the CA key itself (RFC 6960 4.2.2.2), so
answering a request costs one fast EC P-256 signature on the host even when the CA key lives on
an HSM: the HSM signs only the responder's certificate, once per rotation.

Both live in one file, ``ocsp-signer.pem`` (0600) in the CA's directory: the PKCS#8 key, then
the certificate, read and written by :mod:`enrollment.ca.pairs` (a reader sees the old pair or
the new one, never half of each). A pair is replaced when its certificate is
within ``renew_before`` of its end, was not issued by the current CA key, or cannot be read.
Blocking throughout (file I/O, perhaps an HSM signature): call it off the event loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec

from common.time import utcnow
from enrollment.ca.authority import IssuingCA
from enrollment.ca.pairs import read_pair, write_pair

SIGNER_FILE = "ocsp-signer.pem"
SIGNER_VALIDITY = timedelta(days=30)
SIGNER_RENEW_BEFORE = timedelta(days=10)


@dataclass(frozen=True, slots=True, kw_only=True)
class SignerPolicy:
    """How long a responder certificate lasts, and how long before its end it is replaced.

    ``renew_before`` should be at least the responses' own lifetime (the CRL validity), so no
    response is still current after its signer's certificate has expired.
    """

    validity: timedelta = SIGNER_VALIDITY
    renew_before: timedelta = SIGNER_RENEW_BEFORE

    def __post_init__(self) -> None:
        if not timedelta(0) < self.renew_before < self.validity:
            raise ValueError("renew_before must be positive and shorter than validity")


@dataclass(frozen=True, slots=True, kw_only=True)
class OcspSigner:
    """The responder's key (a file key) and its certificate, issued by ``issuer``."""

    certificate: x509.Certificate
    private_key: ec.EllipticCurvePrivateKey
    issuer: IssuingCA

    def due_for_rotation(self, policy: SignerPolicy, now: datetime) -> bool:
        return now >= self.certificate.not_valid_after_utc - policy.renew_before


def load_or_rotate_signer(
    directory: Path, *, ca: IssuingCA, policy: SignerPolicy, now: datetime | None = None
) -> OcspSigner:
    """The current signer from ``directory``, replaced by a new one when it is due. Blocking."""
    now = now or utcnow()
    path = directory / SIGNER_FILE
    current = _read(path, ca)
    if current is not None and not current.due_for_rotation(policy, now):
        return current
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = ca.issue_ocsp_signer(
        public_key=key.public_key(), validity=policy.validity, now=now
    )
    write_pair(path, key, (certificate,))
    return OcspSigner(certificate=certificate, private_key=key, issuer=ca)


def _read(path: Path, ca: IssuingCA) -> OcspSigner | None:
    pair = read_pair(path)  # None: absent or unreadable, a new pair replaces it
    if pair is None or not isinstance(pair.private_key, ec.EllipticCurvePrivateKey):
        return None
    if not _issued_by(pair.leaf, ca):
        return None
    return OcspSigner(certificate=pair.leaf, private_key=pair.private_key, issuer=ca)


def _issued_by(certificate: x509.Certificate, ca: IssuingCA) -> bool:
    try:
        certificate.verify_directly_issued_by(ca.certificate)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True
