"""Fuzzing the CSR parser and policy (enrollment/ca/csr.py) with damaged PEM and DER."""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID
from hypothesis import given
from hypothesis import strategies as st

from enrollment.ca.csr import validated_public_key
from tests.fuzz.mutations import FUZZ, damaged, defined_error

_NAME = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fuzz")])


def _csr(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey) -> bytes:
    algorithm = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    csr = x509.CertificateSigningRequestBuilder().subject_name(_NAME).sign(key, algorithm)
    return csr.public_bytes(serialization.Encoding.DER)


DER_CSRS = (
    _csr(ec.generate_private_key(ec.SECP256R1())),
    _csr(rsa.generate_private_key(public_exponent=65537, key_size=2048)),
    _csr(ed25519.Ed25519PrivateKey.generate()),
)
PEM_CSRS = tuple(
    x509.load_der_x509_csr(der).public_bytes(serialization.Encoding.PEM) for der in DER_CSRS
)


def check(data: bytes) -> None:
    """Only certdesk's own errors come out, each with a message and a 4xx status."""
    error = defined_error(lambda: validated_public_key(data))
    assert error is None or (error.status < 500 and error.message)


def test_csr_valid_samples_pass() -> None:
    """The seeds of the fuzzing are valid: every mutation starts from an accepted CSR."""
    for sample in DER_CSRS + PEM_CSRS:
        validated_public_key(sample)


@FUZZ
@given(damaged(*DER_CSRS))
def test_csr_damaged_der_gives_defined_errors(data: bytes) -> None:
    check(data)


@FUZZ
@given(damaged(*PEM_CSRS))
def test_csr_damaged_pem_gives_defined_errors(data: bytes) -> None:
    check(data)


@FUZZ
@given(st.text(max_size=300))
def test_csr_any_text_gives_defined_errors(text: str) -> None:
    error = defined_error(lambda: validated_public_key(text))
    assert error is None or error.status < 500
