"""Renewal by possession, the server's side: its errors, and the check of the holder's proof.

The proof's format (what the current key signs) is defined once, in :mod:`usbkey.possession`,
beside the client that signs it.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes

from common.der import pem_serial_not_positive, serial_not_positive
from common.errors import CertdeskError
from enrollment.codes import Pepper
from enrollment.errors import CertificateNotFound
from enrollment.ratelimit import RateLimited
from usbkey.possession import signature_valid

CHALLENGE_TTL = timedelta(minutes=5)
_CHALLENGE_SKEW = timedelta(seconds=30)  # a challenge from a process whose clock runs ahead


class PossessionNotProven(CertdeskError, code="possession_not_proven", status=403):
    message = (
        "The signature does not prove possession of the certificate's key for this "
        "challenge, certificate and CSR. Run `certdesk token renew` again; it asks for a "
        "new challenge."
    )


class ChallengeInvalid(CertdeskError, code="challenge_invalid", status=403):
    message = (
        "The renewal challenge is unknown, used, expired or for another certificate. "
        "Run `certdesk token renew` again; it asks for a new challenge."
    )


class TooManyChallenges(RateLimited, code="too_many_challenges"):
    def __init__(self, retry_after: int) -> None:
        super().__init__(
            "Too many renewal challenges were asked for from your address. Wait "
            f"{retry_after} seconds and run `certdesk token renew` again.",
            retry_after=retry_after,
        )


def load_certificate(data: str | bytes) -> x509.Certificate:
    """A PEM or DER certificate, else :class:`CertificateNotFound`.

    The certificate names the resource being renewed (as a link token does), so something
    that is not a certificate is "no certificate of ours" (404), like an unknown link.
    """
    raw = data.encode() if isinstance(data, str) else data
    try:
        if b"-----BEGIN" in raw:
            if not pem_serial_not_positive(raw):
                return x509.load_pem_x509_certificate(raw.strip())
        elif not serial_not_positive(raw):
            return x509.load_der_x509_certificate(raw)
    except (ValueError, x509.InvalidVersion):
        pass
    raise CertificateNotFound(  # a serial number of zero or less included (RFC 5280 forbids it)
        "The field 'certificate' is not a PEM or DER X.509 certificate, so it is no "
        "certificate of this certdesk. Send the certificate as stored on the USB key."
    )


def verify_renewal(public_key: CertificatePublicKeyTypes, signature: str, message: bytes) -> None:
    """Raise :class:`PossessionNotProven` unless ``signature`` is the key's over ``message``."""
    if not signature_valid(public_key, signature, message):
        raise PossessionNotProven()


def _challenge_mac(pepper: Pepper, certificate: x509.Certificate, issued: str, nonce: str) -> str:
    fingerprint = certificate.fingerprint(hashes.SHA256()).hex()
    return pepper.digest("renewal-challenge", f"{fingerprint}:{issued}:{nonce}")[:32]


def new_challenge(pepper: Pepper, certificate: x509.Certificate, *, now: datetime) -> str:
    """A challenge bound to ``certificate`` and issued ``now``: ``TIME-NONCE-MAC``, where the
    MAC is the pepper's over the certificate's fingerprint, the time and the nonce. Nothing is
    stored: :func:`check_challenge` recomputes the MAC (any process sharing the secret key)."""
    issued = str(int(now.timestamp()))
    nonce = secrets.token_hex(12)
    return f"{issued}-{nonce}-{_challenge_mac(pepper, certificate, issued, nonce)}"


def challenge_expiry(challenge: str) -> datetime:
    """When a challenge made by :func:`new_challenge` stops working."""
    return datetime.fromtimestamp(int(challenge.split("-", 1)[0]), UTC) + CHALLENGE_TTL


def check_challenge(
    pepper: Pepper, challenge: str, certificate: x509.Certificate, *, now: datetime
) -> None:
    """Raise :class:`ChallengeInvalid` unless ``challenge`` is one of ours, for
    ``certificate``, and under :data:`CHALLENGE_TTL` old. It works once because the renewal
    it allows supersedes the certificate (the successor check), not because it is stored."""
    issued, _, rest = challenge.partition("-")
    nonce, _, mac = rest.partition("-")
    if not (issued.isascii() and issued.isdigit() and len(issued) <= 12 and nonce and mac):
        raise ChallengeInvalid()
    expected = _challenge_mac(pepper, certificate, issued, nonce)
    if not hmac.compare_digest(expected.encode(), mac.encode("utf-8", "replace")):
        raise ChallengeInvalid()
    at = datetime.fromtimestamp(int(issued), UTC)
    if not now - CHALLENGE_TTL < at <= now + _CHALLENGE_SKEW:
        raise ChallengeInvalid()
