"""Proof of possession for renewal without a link: the message the holder's key signs. Pure.

``certdesk token renew`` has no link and no verification code: it proves that it holds the
current certificate's private key. The server hands out a one-time challenge bound to that
certificate; the client signs, with the CURRENT key, a message that binds together

- a fixed context string (so the signature cannot be replayed as anything else),
- the challenge (freshness: a keyed MAC over the certificate and the time, 5 minutes; it
  renews once, since the renewal supersedes the certificate),
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

CONTEXT = b"certdesk renewal by possession v1\x00"


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


def signature_valid(public_key: CertificatePublicKeyTypes, signature: str, message: bytes) -> bool:
    """Whether ``signature`` (base64) is the key's signature over ``message``."""
    try:
        raw = base64.b64decode(signature, validate=True)
        if isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(raw, message, ec.ECDSA(_hash_for(public_key)))
        elif isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(raw, message, padding.PKCS1v15(), hashes.SHA256())
        elif isinstance(public_key, ed25519.Ed25519PublicKey):
            public_key.verify(raw, message)
        else:
            return False
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True
