"""CSR parsing and key policy."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from enrollment.ca.csr import key_description, validated_public_key
from enrollment.errors import CsrError, CsrMalformed, KeyNotAllowed
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


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=600) | st.text(max_size=600))
def test_arbitrary_input_raises_only_csr_errors(data: bytes | str) -> None:
    with pytest.raises(CsrError):
        validated_public_key(data)
