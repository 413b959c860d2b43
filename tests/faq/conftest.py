"""Fixtures of the knowledge room: the shipped knowledge base, the labelled questions, and
certificate files made by the real `openssl` command line and by cryptography."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID

from faq.knowledge import KnowledgeBase
from tests.support import system
from tests.support.pki import openssl

DATA = Path(__file__).parent / "data"
P12_PASSWORD = "s3cret-Pässword"


@dataclass(frozen=True)
class Labelled:
    question: str
    expected: str | None
    language: str
    style: str


def read_labelled(split: str) -> list[Labelled]:
    lines = (DATA / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()
    return [Labelled(**json.loads(line)) for line in lines if line.strip()]


@pytest.fixture(scope="session")
def kb() -> KnowledgeBase:
    return KnowledgeBase.load()


@dataclass(frozen=True)
class Pki:
    """Files of a two-level chain made by `openssl`: a root CA and a leaf with two OUs."""

    root_pem: Path
    leaf_key: Path
    leaf_pem: Path
    leaf_der: Path
    chain_p7b_pem: Path
    chain_p7b_der: Path
    leaf_p12: Path
    leaf_p12_no_password: Path
    leaf_serial_hex: str


def _run(*args: str) -> str:
    result = openssl(*args)
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout.decode()


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    system.binary("openssl", "openssl")
    d = tmp_path_factory.mktemp("pki")
    root_key, root_pem = d / "root.key", d / "root.pem"
    _run(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        str(root_key),
        "-out",
        str(root_pem),
        "-days",
        "3650",
        "-subj",
        "/O=Test CA Org/CN=Test Root CA",
    )
    leaf_key, csr = d / "leaf.key", d / "leaf.csr"
    _run(
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        str(leaf_key),
        "-out",
        str(csr),
        "-utf8",
        "-subj",
        "/O=Test CA Org/OU=Branch 01/OU=RA Shanghai/CN=张三 Zhang San",
    )
    leaf_pem = d / "leaf.pem"
    serial = "0x1F2E3D4C5B6A"
    _run(
        "x509",
        "-req",
        "-in",
        str(csr),
        "-CA",
        str(root_pem),
        "-CAkey",
        str(root_key),
        "-set_serial",
        serial,
        "-days",
        "365",
        "-out",
        str(leaf_pem),
    )
    leaf_der = d / "leaf.cer"
    _run("x509", "-in", str(leaf_pem), "-outform", "DER", "-out", str(leaf_der))
    p7b_pem, p7b_der = d / "chain.p7b", d / "chain-der.p7b"
    _run(
        "crl2pkcs7",
        "-nocrl",
        "-certfile",
        str(leaf_pem),
        "-certfile",
        str(root_pem),
        "-out",
        str(p7b_pem),
    )
    _run(
        "crl2pkcs7",
        "-nocrl",
        "-certfile",
        str(leaf_pem),
        "-certfile",
        str(root_pem),
        "-outform",
        "DER",
        "-out",
        str(p7b_der),
    )
    p12, p12_open = d / "leaf.p12", d / "open.p12"
    _run(
        "pkcs12",
        "-export",
        "-in",
        str(leaf_pem),
        "-inkey",
        str(leaf_key),
        "-certfile",
        str(root_pem),
        "-name",
        "Zhang San signing",
        "-out",
        str(p12),
        "-passout",
        f"pass:{P12_PASSWORD}",
    )
    _run(
        "pkcs12",
        "-export",
        "-in",
        str(leaf_pem),
        "-inkey",
        str(leaf_key),
        "-out",
        str(p12_open),
        "-passout",
        "pass:",
    )
    serial_line = _run("x509", "-in", str(leaf_pem), "-noout", "-serial").strip()
    return Pki(
        root_pem=root_pem,
        leaf_key=leaf_key,
        leaf_pem=leaf_pem,
        leaf_der=leaf_der,
        chain_p7b_pem=p7b_pem,
        chain_p7b_der=p7b_der,
        leaf_p12=p12,
        leaf_p12_no_password=p12_open,
        leaf_serial_hex=serial_line.removeprefix("serial="),
    )


def openssl_field(path: Path, flag: str, *, inform: str = "PEM") -> str:
    """One `openssl x509 -noout FLAG` value, e.g. -fingerprint -sha256 or -enddate."""
    out = _run("x509", "-in", str(path), "-inform", inform, "-noout", *flag.split())
    return out.strip().split("=", 1)[1]


def built_certificate(
    *,
    key: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey,
    subject: x509.Name,
    not_before: datetime,
    not_after: datetime,
    serial: int = 0x0ABC,
) -> x509.Certificate:
    """A self-signed certificate from cryptography's CertificateBuilder with exact dates."""
    algorithm = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .sign(key, algorithm)
    )


def name(*, cn: str, ous: tuple[str, ...] = (), o: str | None = None) -> x509.Name:
    attributes = []
    if o is not None:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, o))
    attributes += [x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou) for ou in ous]
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    return x509.Name(attributes)


NOW = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def expired_ed25519() -> x509.Certificate:
    return built_certificate(
        key=ed25519.Ed25519PrivateKey.generate(),
        subject=name(cn="Old Holder"),
        not_before=NOW - timedelta(days=400),
        not_after=NOW - timedelta(days=10, hours=1),
    )


@pytest.fixture(scope="session")
def p384_der_p7b() -> bytes:
    """A DER PKCS#7 bundle of three P-384 certificates, serialised by cryptography."""
    key = ec.generate_private_key(ec.SECP384R1())
    certificates = [
        built_certificate(
            key=key,
            subject=name(cn=f"Holder {index}", ous=("Unit A", "RA Beijing", "Team C")),
            not_before=NOW - timedelta(days=1),
            not_after=NOW + timedelta(days=30 * index),
            serial=index,
        )
        for index in (1, 2, 3)
    ]
    return pkcs7.serialize_certificates(certificates, serialization.Encoding.DER)
