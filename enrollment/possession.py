"""Renewal by possession, the server's side: its errors, and the check of the holder's proof.

The proof's format (what the current key signs) is defined once, in :mod:`usbkey.possession`,
beside the client that signs it.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes

from common.errors import CertdeskError
from enrollment.errors import CertificateNotFound
from usbkey.possession import signature_valid


class PossessionNotProven(CertdeskError):
    code = "possession_not_proven"
    status = 403
    message = (
        "The signature does not prove possession of the certificate's key for this "
        "challenge, certificate and CSR. Run `certdesk token renew` again; it asks for a "
        "new challenge."
    )


class ChallengeInvalid(CertdeskError):
    code = "challenge_invalid"
    status = 403
    message = (
        "The renewal challenge is unknown, used, expired or for another certificate. "
        "Run `certdesk token renew` again; it asks for a new challenge."
    )


class TooManyChallenges(CertdeskError):
    code = "too_many_challenges"
    status = 429
    message = (
        "Too many renewal challenges are open for this certificate. Wait 5 minutes and "
        "run `certdesk token renew` again."
    )


def load_certificate(data: str | bytes) -> x509.Certificate:
    """A PEM or DER certificate, else :class:`CertificateNotFound`.

    The certificate names the resource being renewed (as a link token does), so something
    that is not a certificate is "no certificate of ours" (404), like an unknown link.
    """
    raw = data.encode() if isinstance(data, str) else data
    try:
        if b"-----BEGIN" in raw:
            return x509.load_pem_x509_certificate(raw.strip())
        return x509.load_der_x509_certificate(raw)
    except ValueError:
        raise CertificateNotFound(
            "The field 'certificate' is not a PEM or DER X.509 certificate, so it is no "
            "certificate of this certdesk. Send the certificate as stored on the USB key."
        ) from None


def verify_renewal(public_key: CertificatePublicKeyTypes, signature: str, message: bytes) -> None:
    """Raise :class:`PossessionNotProven` unless ``signature`` is the key's over ``message``."""
    if not signature_valid(public_key, signature, message):
        raise PossessionNotProven()
