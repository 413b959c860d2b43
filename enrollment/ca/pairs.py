"""A private key and the certificates that go with it, in one PEM file (0600) written whole or
not at all: certdesk's auto TLS server pair (``tls/server.pem``: key, server certificate, CA
chain) and the OCSP signer's (``ca/ocsp-signer.pem``: key, certificate).

One file keeps the key and its certificate paired when several processes share the directory:
a new pair is written beside the old and renamed over it in one step, so a reader sees the old
pair or the new one, never half of each. Blocking (file I/O).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from enrollment.files import replace_file

PAIR_MODE = 0o600


@dataclass(frozen=True, slots=True, kw_only=True)
class PemPair:
    """A key and its certificates, the key's own certificate first."""

    private_key: PrivateKeyTypes
    certificates: tuple[x509.Certificate, ...]

    @property
    def leaf(self) -> x509.Certificate:
        return self.certificates[0]


def pair_bytes(key: PrivateKeyTypes, certificates: tuple[x509.Certificate, ...]) -> bytes:
    """The PEM file: the unencrypted PKCS#8 key, then each certificate in order."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ) + b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certificates)


def write_pair(
    path: Path, key: PrivateKeyTypes, certificates: tuple[x509.Certificate, ...]
) -> None:
    """Replace the pair at ``path`` (0600), whole or not at all."""
    replace_file(path, pair_bytes(key, certificates), mode=PAIR_MODE)


def read_pair(path: Path) -> PemPair | None:
    """The pair at ``path``; None when it is absent, unreadable, or its key is not the first
    certificate's (a new pair should replace it)."""
    try:
        return parse_pair(path.read_bytes())
    except FileNotFoundError:
        return None


def parse_pair(data: bytes) -> PemPair | None:
    try:
        key = serialization.load_pem_private_key(data, None)
        certificates = tuple(x509.load_pem_x509_certificates(data))
    except (ValueError, TypeError):
        return None
    if not certificates or key.public_key() != certificates[0].public_key():
        return None
    return PemPair(private_key=key, certificates=certificates)
