"""The serial and expiry every certificate-holding record reports, written once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from usbkey.certificates import serial_hex
from usbkey.pkcs11.session import CertificateOnToken


def _certificate(serial: int, not_after: datetime) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Alice")])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(not_after - timedelta(days=1))
        .not_valid_after(not_after)
        .sign(key, hashes.SHA256())
    )


def test_serial_is_lower_case_hex_and_not_after_aware_utc() -> None:
    not_after = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    cert = _certificate(0xABCDEF0123, not_after)
    on_token = CertificateOnToken(label="alice", id=b"\x01", certificate=cert)
    assert serial_hex(cert) == on_token.serial == "abcdef0123"
    assert on_token.not_after == not_after
