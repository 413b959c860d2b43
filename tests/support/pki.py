"""Real OpenSSL as the counterpart: keys, CSRs and verification through the `openssl` CLI."""

from __future__ import annotations

import base64
import subprocess
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def openssl(*args: str, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["openssl", *args], input=input, capture_output=True, check=False)


def make_csr(directory: Path, *, key: str = "ec", subject: str = "/CN=ignored") -> tuple[Path, str]:
    """A new key and CSR from `openssl req -new`; returns (key path, CSR PEM)."""
    key_path = directory / f"{key}-{len(list(directory.iterdir()))}.key"
    newkey = {
        "ec": ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        "rsa2048": ["-newkey", "rsa:2048"],
        "rsa1024": ["-newkey", "rsa:1024"],
        "ed25519": ["-newkey", "ed25519"],
    }[key]
    result = openssl("req", "-new", *newkey, "-nodes", "-keyout", str(key_path), "-subj", subject)
    assert result.returncode == 0, result.stderr.decode()
    return key_path, result.stdout.decode()


def verify(ca_pem: Path, cert_pem: Path) -> subprocess.CompletedProcess[bytes]:
    return openssl("verify", "-CAfile", str(ca_pem), str(cert_pem))


def subject_line(cert_pem: Path) -> str:
    result = openssl("x509", "-in", str(cert_pem), "-noout", "-subject", "-nameopt", "RFC2253")
    return result.stdout.decode().strip()


def self_signed(
    cn: str,
    *,
    valid_for: timedelta,
    ous: Sequence[str] = (),
    o: str | None = None,
    extension: x509.ExtensionType | None = None,
    critical: bool = False,
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A throwaway self-signed P-256 certificate for ``cn`` (then ``ous`` in order, then
    ``o``), valid from five minutes ago for ``valid_for``, with at most one ``extension``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
            *(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou) for ou in ous),
            *([x509.NameAttribute(NameOID.ORGANIZATION_NAME, o)] if o is not None else []),
        ]
    )
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + valid_for)
    )
    if extension is not None:
        builder = builder.add_extension(extension, critical=critical)
    return key, builder.sign(key, hashes.SHA256())


def self_signed_server(
    directory: Path, *, valid_for: timedelta, extension: x509.ExtensionType, critical: bool
) -> tuple[Path, Path]:
    """``server.pem`` and ``server.key`` in ``directory``: a throwaway self-signed P-256
    certificate for 127.0.0.1 with one ``extension`` (a SAN for a browser, CA constraints for
    OpenSSL's trust store)."""
    key, certificate = self_signed(
        "127.0.0.1", valid_for=valid_for, extension=extension, critical=critical
    )
    cert_path, key_path = directory / "server.pem", directory / "server.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


V3 = bytes.fromhex("a003020102")  # a certificate's version field: [0] EXPLICIT INTEGER 2 (v3)


def bad_version(certificate: x509.Certificate) -> bytes:
    """``certificate``'s DER with version 5: well formed, but cryptography refuses to load it
    with ``x509.InvalidVersion``, which is not a ``ValueError``."""
    der = certificate.public_bytes(serialization.Encoding.DER)
    at = der.index(V3)
    assert at <= 8  # the first field of the TBSCertificate, right after two SEQUENCE headers
    return der[:at] + bytes.fromhex("a003020105") + der[at + len(V3) :]


def bad_version_csr() -> str:
    """A P-256 CSR (PEM) with version 5, which cryptography refuses with ``InvalidVersion``."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ignored")])
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    der = csr.public_bytes(serialization.Encoding.DER)
    at = der.index(bytes.fromhex("020100"))  # INTEGER 0 (v1), first in CertificationRequestInfo
    assert at <= 8
    body = base64.encodebytes(der[:at] + bytes.fromhex("020105") + der[at + 3 :]).decode()
    return f"-----BEGIN CERTIFICATE REQUEST-----\n{body}-----END CERTIFICATE REQUEST-----\n"


def bad_version_pem(certificate: x509.Certificate) -> bytes:
    body = base64.encodebytes(bad_version(certificate))
    return b"-----BEGIN CERTIFICATE-----\n" + body + b"-----END CERTIFICATE-----\n"
