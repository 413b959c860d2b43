"""Fuzzing the certificate inspector (faq/inspector.py): truncated and mutated PEM, DER,
PKCS#7 and PKCS#12 files, the files people hand the bot."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12
from cryptography.x509.oid import NameOID
from hypothesis import given

import faq.inspector as inspector_module
from common.time import utcnow
from faq.errors import NotACertificate
from faq.inspector import inspect_certificates
from tests.fuzz.mutations import FUZZ, damaged, defined_error
from tests.support.pki import openssl

NOW = utcnow()
# What faq/inspector.py filters in production: cryptography's note that a .p7b was not strict
# DER and was read as BER (the suite turns every warning into an error).
pytestmark = pytest.mark.filterwarnings(f"ignore:{inspector_module.BER_FALLBACK}:UserWarning")


def _certificate() -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "Fuzz Holder"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "Branch"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "RA Shanghai"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Acme Bank"),
        ]
    )
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return key, certificate


KEY, CERTIFICATE = _certificate()
PEM = CERTIFICATE.public_bytes(serialization.Encoding.PEM)
DER = CERTIFICATE.public_bytes(serialization.Encoding.DER)
P7_DER = pkcs7.serialize_certificates([CERTIFICATE], serialization.Encoding.DER)
P7_PEM = pkcs7.serialize_certificates([CERTIFICATE], serialization.Encoding.PEM)
P12_OPEN = pkcs12.serialize_key_and_certificates(
    b"fuzz", KEY, CERTIFICATE, None, serialization.NoEncryption()
)
P12_LOCKED = pkcs12.serialize_key_and_certificates(
    b"fuzz", KEY, CERTIFICATE, None, serialization.BestAvailableEncryption(b"secret")
)
SAMPLES = (PEM, DER, P7_DER, P7_PEM, P12_OPEN, P12_LOCKED, PEM + PEM)


def check(data: bytes) -> None:
    """Only the inspector's defined errors come out, each with a message and a 4xx status."""
    error = defined_error(lambda: inspect_certificates(data, now=NOW).to_json())
    assert error is None or (error.status < 500 and error.message)


def test_inspector_valid_samples_are_read() -> None:
    """The seeds are valid files the inspector reads (the locked PKCS#12 asks its password)."""
    for sample in (PEM, DER, P7_DER, P7_PEM, P12_OPEN):
        assert inspect_certificates(sample, now=NOW).certificates[0].common_name == "Fuzz Holder"


@FUZZ
@given(damaged(PEM, P7_PEM, PEM + PEM))
def test_inspector_damaged_pem_gives_defined_errors(data: bytes) -> None:
    check(data)


@FUZZ
@given(damaged(DER, P7_DER))
def test_inspector_damaged_der_and_pkcs7_give_defined_errors(data: bytes) -> None:
    check(data)


@FUZZ
@given(damaged(P12_OPEN, P12_LOCKED))
def test_inspector_damaged_pkcs12_gives_defined_errors(data: bytes) -> None:
    check(data)


@pytest.fixture(scope="module")
def costly_pkcs12(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A 1 KB PKCS#12 file, empty password, whose key derivation asks for 1,000,000 rounds
    (made by real OpenSSL; reading it took 1.8 s per password tried)."""
    directory = tmp_path_factory.mktemp("costly-p12")
    (directory / "cert.pem").write_bytes(PEM)
    (directory / "key.pem").write_bytes(
        KEY.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    made = openssl(
        "pkcs12", "-export", "-in", str(directory / "cert.pem"), "-inkey",
        str(directory / "key.pem"), "-passout", "pass:", "-iter", "1000000",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    return made.stdout


def test_inspector_refuses_costly_pkcs12_at_once(
    costly_pkcs12: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file that asks for more key-derivation rounds than any exporter uses is refused
    before any round is computed (PKCS#12 is never opened): it cannot hold the bot's loop."""
    opened: list[bytes | None] = []

    def load_pkcs12(data: bytes, password: bytes | None) -> object:
        opened.append(password)
        raise AssertionError("the PKCS#12 file was opened")

    monkeypatch.setattr(inspector_module.pkcs12, "load_pkcs12", load_pkcs12)
    with pytest.raises(NotACertificate, match="1000000 key-derivation rounds"):
        inspect_certificates(costly_pkcs12, now=NOW)
    assert opened == []
