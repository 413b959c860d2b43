"""common/der.py: the serial-number check before cryptography reads a certificate from outside."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from common.der import der_items, pem_serial_not_positive, serial_not_positive
from tests.fuzz.mutations import budget
from tests.support.pki import pem_block, self_signed

KEY = ec.generate_private_key(ec.SECP256R1())
NAME = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test Holder 01")])
NOW = datetime(2026, 12, 8, tzinfo=UTC)
SERIAL_7 = bytes.fromhex("a003020102020107")  # version v3, then serialNumber INTEGER 7


def _certificate(serial: int) -> bytes:
    _, certificate = self_signed("Test Holder 01", valid_for=timedelta(days=1), serial=serial)
    return certificate.public_bytes(serialization.Encoding.DER)


def _with_serial_octet(octet: int) -> bytes:
    """A certificate whose one-octet serial number is ``octet`` (0: zero, 0x80 and up: negative)."""
    der = _certificate(7)
    assert der.count(SERIAL_7) == 1
    return der.replace(SERIAL_7, SERIAL_7[:-1] + bytes([octet]))


def test_positive_serial_numbers_pass() -> None:
    for serial in (1, 7, 0x7F, 0x80, 0xFF, 2**159 - 1):  # 0x80 and up: a leading zero octet
        assert not serial_not_positive(_certificate(serial)), serial


def test_zero_and_negative_serial_numbers_are_caught() -> None:
    assert [serial_not_positive(_with_serial_octet(o)) for o in (0x00, 0x80, 0xFB, 0xFF)] == [
        True
    ] * 4
    assert not serial_not_positive(_with_serial_octet(0x07))


def test_other_shapes_are_left_to_cryptography() -> None:
    """A CSR starts its info with INTEGER 0 (its version), a CRL with INTEGER 1: neither is a
    certificate with serial number zero; damage and foreign bytes are not judged here."""
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(NAME)
        .sign(KEY, hashes.SHA256())
        .public_bytes(serialization.Encoding.DER)
    )
    crl = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(NAME)
        .last_update(NOW)
        .next_update(NOW + timedelta(days=1))
        .sign(KEY, hashes.SHA256())
        .public_bytes(serialization.Encoding.DER)
    )
    negative = _with_serial_octet(0xFB)
    for data in (csr, crl, b"", b"\x30", b"\x30\x00", negative[:-1], negative + b"\x00"):
        assert not serial_not_positive(data), data[:8]


def test_pem_blocks_are_each_checked() -> None:
    good, bad = pem_block(_certificate(7)), pem_block(_with_serial_octet(0x00))
    assert not pem_serial_not_positive(good + good)
    assert pem_serial_not_positive(good + bad)
    damaged = bad.replace(b"-----BEGIN CERTIFICATE-----\n", b"-----BEGIN CERTIFICATE-----\n!")
    assert not pem_serial_not_positive(damaged)  # not base64: cryptography refuses it itself


def test_der_items_splits_one_level_and_refuses_overruns() -> None:
    assert der_items(b"\x02\x01\x07\x30\x00", 0, 5) == [(0x02, 2, 3), (0x30, 5, 5)]
    assert der_items(b"\x02\x05\x07", 0, 3) == []
    assert der_items(b"\x02\x85\x00\x00\x00\x00\x01\x07", 0, 8) == []  # over four length octets


@settings(max_examples=budget(200), deadline=None, database=None)
@given(st.binary(max_size=600), st.integers(min_value=0, max_value=599))
def test_damaged_certificates_never_raise(noise: bytes, at: int) -> None:
    der = _with_serial_octet(0xFB)
    damaged = der[: at % len(der)] + noise + der[at % len(der) + len(noise) :]
    assert serial_not_positive(damaged) in (True, False)
    assert pem_serial_not_positive(pem_block(damaged)) in (True, False)
