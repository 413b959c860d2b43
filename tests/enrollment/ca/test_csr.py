"""CSR parsing and key policy."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from enrollment.ca.csr import key_description, validated_public_key
from enrollment.errors import CsrError, CsrMalformed, CsrSignatureInvalid, KeyNotAllowed
from tests.fuzz.mutations import budget
from tests.support.pki import bad_version_csr, make_csr, openssl


@pytest.mark.parametrize(
    ("key", "expected"), [("ec", "P-256"), ("rsa2048", "RSA-2048"), ("ed25519", "Ed25519")]
)
def test_allowed_keys_are_accepted(tmp_path: Path, key: str, expected: str) -> None:
    _, csr = make_csr(tmp_path, key=key)
    assert key_description(validated_public_key(csr)) == expected


def test_der_csr_is_accepted(tmp_path: Path) -> None:
    _, csr = make_csr(tmp_path)
    der = openssl("req", "-in", "/dev/stdin", "-outform", "DER", input=csr.encode()).stdout
    assert key_description(validated_public_key(der)) == "P-256"


def test_secp256k1_is_refused(tmp_path: Path) -> None:
    key = tmp_path / "k1.key"
    openssl("ecparam", "-name", "secp256k1", "-genkey", "-noout", "-out", str(key))
    csr = openssl("req", "-new", "-key", str(key), "-subj", "/CN=x").stdout
    with pytest.raises(KeyNotAllowed, match="secp256k1"):
        validated_public_key(csr)


def test_certificate_pasted_instead_of_csr_is_explained() -> None:
    with pytest.raises(CsrMalformed, match="not a certificate request"):
        validated_public_key("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")


def test_csr_of_an_unknown_version_is_malformed() -> None:
    """Version 5 is a malformed CSR, not cryptography's InvalidVersion (which is no ValueError)."""
    with pytest.raises(CsrMalformed, match="not a valid CSR version"):
        validated_public_key(bad_version_csr())


P256 = bytes.fromhex("06082a8648ce3d030107")  # OID 1.2.840.10045.3.1.7 (prime256v1)
ECDSA_SHA256 = bytes.fromhex("06082a8648ce3d040302")  # OID 1.2.840.10045.4.3.2


@pytest.mark.parametrize(
    ("known", "refused", "says"),
    [
        pytest.param(P256, KeyNotAllowed, "public key could not be read", id="curve"),
        pytest.param(ECDSA_SHA256, CsrSignatureInvalid, "self-signature", id="signature"),
    ],
)
def test_csr_naming_an_algorithm_cryptography_does_not_know_is_refused(
    tmp_path: Path, known: bytes, refused: type[CsrError], says: str
) -> None:
    """An EC key on a curve, or a signature by an algorithm, that cryptography does not know
    (the last arc of P-256 or of ecdsa-with-SHA256 changed) is the holder's CSR error. The curve
    was a 500 (UnsupportedAlgorithm), found by the EST fuzzer with a larger budget."""
    _, csr = make_csr(tmp_path)
    der = openssl("req", "-in", "/dev/stdin", "-outform", "DER", input=csr.encode()).stdout
    assert der.count(known) == 1
    with pytest.raises(refused, match=says):
        validated_public_key(der.replace(known, known[:-1] + b"\x7f"))


@settings(max_examples=budget(200), deadline=None)
@given(st.binary(max_size=600) | st.text(max_size=600))
def test_arbitrary_input_raises_only_csr_errors(data: bytes | str) -> None:
    with pytest.raises(CsrError):
        validated_public_key(data)
