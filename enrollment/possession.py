"""Proof of possession for renewal without a link. Pure functions, no I/O.

``certdesk token renew`` has no link and no verification code: it proves that it holds the
current certificate's private key. The server hands out a one-time challenge bound to that
certificate; the client signs, with the CURRENT key, a message that binds together

- a fixed context string (so the signature cannot be replayed as anything else),
- the challenge (freshness: each challenge is stored, works once and for 5 minutes),
- the SHA-256 of the current certificate's DER (which certificate is being renewed),
- the SHA-256 of the new CSR's DER (which new key is to be certified).

The new CSR's own self-signature proves possession of the new key, as for every CSR.
"""

from __future__ import annotations

import base64
import binascii
import hashlib

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    CertificatePublicKeyTypes,
)

from enrollment.errors import CertdeskError, CertificateNotFound

CONTEXT = b"certdesk renewal by possession v1\x00"


class PossessionNotProven(CertdeskError):
    code = "possession_not_proven"
    status = 403

    def __init__(self) -> None:
        super().__init__(
            "The signature does not prove possession of the certificate's key for this "
            "challenge, certificate and CSR. Run `certdesk token renew` again; it asks for a "
            "new challenge."
        )


class ChallengeInvalid(CertdeskError):
    code = "challenge_invalid"
    status = 403

    def __init__(self) -> None:
        super().__init__(
            "The renewal challenge is unknown, used, expired or for another certificate. "
            "Run `certdesk token renew` again; it asks for a new challenge."
        )


class TooManyChallenges(CertdeskError):
    code = "too_many_challenges"
    status = 429

    def __init__(self) -> None:
        super().__init__(
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


def renewal_message(*, challenge: str, certificate: x509.Certificate, csr_der: bytes) -> bytes:
    """The bytes the current key signs."""
    cert_digest = hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).digest()
    return (
        CONTEXT
        + challenge.encode("ascii")
        + b"\x00"
        + cert_digest
        + hashlib.sha256(csr_der).digest()
    )


def _hash_for(key: ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey) -> hashes.HashAlgorithm:
    return hashes.SHA384() if key.curve.key_size >= 384 else hashes.SHA256()


def sign_renewal(key: CertificateIssuerPrivateKeyTypes, message: bytes) -> str:
    """The base64 signature: ECDSA (SHA-256, SHA-384 for P-384), RSA PKCS#1 v1.5 SHA-256."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        signature = key.sign(message, ec.ECDSA(_hash_for(key)))
    elif isinstance(key, rsa.RSAPrivateKey):
        signature = key.sign(message, padding.PKCS1v15(), hashes.SHA256())
    elif isinstance(key, ed25519.Ed25519PrivateKey):
        signature = key.sign(message)
    else:
        raise TypeError(f"cannot sign with {type(key).__name__}")
    return base64.b64encode(signature).decode("ascii")


def verify_renewal(public_key: CertificatePublicKeyTypes, signature: str, message: bytes) -> None:
    """Raise :class:`PossessionNotProven` unless ``signature`` is the key's over ``message``."""
    try:
        raw = base64.b64decode(signature, validate=True)
        if isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(raw, message, ec.ECDSA(_hash_for(public_key)))
        elif isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(raw, message, padding.PKCS1v15(), hashes.SHA256())
        elif isinstance(public_key, ed25519.Ed25519PublicKey):
            public_key.verify(raw, message)
        else:
            raise PossessionNotProven()
    except (InvalidSignature, binascii.Error, ValueError):
        raise PossessionNotProven() from None
