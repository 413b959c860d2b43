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
    serial: int | None = None,
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A throwaway self-signed P-256 certificate for ``cn`` (then ``ous`` in order, then
    ``o``), valid from five minutes ago for ``valid_for``, with at most one ``extension``
    (``serial``: random when not given)."""
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
        .serial_number(x509.random_serial_number() if serial is None else serial)
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


WIDER_SANS = (x509.DNSName("intranet.example"), x509.RFC822Name("someone@elsewhere.example"))


def widening_csr(
    subject: x509.Name | None = None,
    *,
    sans: tuple[x509.GeneralName, ...] = WIDER_SANS,
    key: ec.EllipticCurvePrivateKey | None = None,
) -> tuple[ec.EllipticCurvePrivateKey, x509.CertificateSigningRequest]:
    """A CSR that asks for more than any holder's certificate says: ``subject`` (default: other
    CN, OU and O), the subject alternative names ``sans``, server, code-signing and OCSP-signing
    extended key usages, certificate and CRL signing, and to be a CA."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    subject = subject or x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Other Org"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "Other Unit"),
            x509.NameAttribute(NameOID.COMMON_NAME, "Someone Else"),
        ]
    )
    builder = x509.CertificateSigningRequestBuilder().subject_name(subject)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(sans)), critical=False)
    builder = (
        builder.add_extension(
            x509.ExtendedKeyUsage(
                [
                    x509.ExtendedKeyUsageOID.SERVER_AUTH,
                    x509.ExtendedKeyUsageOID.CODE_SIGNING,
                    x509.ExtendedKeyUsageOID.OCSP_SIGNING,
                    x509.ExtendedKeyUsageOID.CLIENT_AUTH,
                ]
            ),
            critical=False,
        )
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=True,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    )
    return key, builder.sign(key, hashes.SHA256())


SAYS = (
    x509.SubjectAlternativeName,
    x509.KeyUsage,
    x509.ExtendedKeyUsage,
    x509.BasicConstraints,
    x509.CRLDistributionPoints,
    x509.AuthorityInformationAccess,
)


def assert_says_no_more(old: x509.Certificate, new: x509.Certificate) -> None:
    """``new``, a renewal of ``old`` with a key of the same type, says what ``old`` says: the
    same subject and issuer, the same subject alternative names, key usages, extended key
    usages, CA constraints and pointers, and no other extension."""
    assert new.serial_number != old.serial_number
    assert new.public_key() != old.public_key()
    assert new.subject == old.subject
    assert new.issuer == old.issuer
    for kind in SAYS:
        assert _extension(new, kind) == _extension(old, kind), kind.__name__
    assert sorted(e.oid.dotted_string for e in new.extensions) == sorted(
        e.oid.dotted_string for e in old.extensions
    )


def _extension(certificate: x509.Certificate, kind: type[x509.ExtensionType]) -> object:
    try:
        return certificate.extensions.get_extension_for_class(kind)
    except x509.ExtensionNotFound:
        return None


V3 = bytes.fromhex("a003020102")  # a certificate's version field: [0] EXPLICIT INTEGER 2 (v3)


def bad_version(certificate: x509.Certificate) -> bytes:
    """``certificate``'s DER with version 5: well formed, but cryptography refuses to load it
    with ``x509.InvalidVersion``, which is not a ``ValueError``."""
    der = certificate.public_bytes(serialization.Encoding.DER)
    at = der.index(V3)
    assert at <= 8  # the first field of the TBSCertificate, right after two SEQUENCE headers
    return der[:at] + bytes.fromhex("a003020105") + der[at + len(V3) :]


def negative_serial(certificate: x509.Certificate) -> bytes:
    """``certificate``'s DER with its serial number's sign bit set: well formed, and loaded by
    cryptography with only a deprecation warning, though RFC 5280 forbids a serial number of zero
    or less (a future cryptography refuses it)."""
    der = certificate.public_bytes(serialization.Encoding.DER)
    at = der.index(V3) + len(V3)  # the serialNumber INTEGER: tag, one length octet, content
    assert der[at] == 0x02
    assert der[at + 1] < 0x80
    return der[: at + 2] + bytes([der[at + 2] | 0x80]) + der[at + 3 :]


def pem_block(der: bytes, label: str = "CERTIFICATE") -> bytes:
    """``der`` as one PEM block with ``label``."""
    body = base64.encodebytes(der)
    return f"-----BEGIN {label}-----\n".encode() + body + f"-----END {label}-----\n".encode()


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
    return pem_block(bad_version(certificate))
