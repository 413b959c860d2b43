"""The serial and expiry every certificate-holding record reports, and the extensions the client
reads, written once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID

from usbkey.certificates import extension, serial_hex
from usbkey.client import server_of
from usbkey.pkcs11.session import CertificateOnToken
from usbkey.revocation import check, responder_url

KEY_USAGE_OID, CRL_POINTS_OID = bytes.fromhex("0603551d0f"), bytes.fromhex("0603551d1f")


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


OCSP_URL, CRL_URL = "http://certdesk.example/ocsp", "http://certdesk.example/crl"
OCSP_URI = b"\x86" + bytes([len(OCSP_URL)]) + OCSP_URL.encode()  # [6] uniformResourceIdentifier


def _certificate_with_addresses() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Alice")])
    now = datetime.now(UTC)
    ocsp = x509.AccessDescription(
        AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(OCSP_URL)
    )
    crl = x509.DistributionPoint([x509.UniformResourceIdentifier(CRL_URL)], None, None, None)
    usage = x509.KeyUsage(True, False, False, False, False, False, False, False, False)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(7)
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.AuthorityInformationAccess([ocsp]), critical=False)
        .add_extension(x509.CRLDistributionPoints([crl]), critical=False)
        .add_extension(usage, critical=True)
        .sign(key, hashes.SHA256())
        .public_bytes(serialization.Encoding.DER)
    )


@pytest.mark.parametrize(
    ("known", "damaged"),
    [
        pytest.param(KEY_USAGE_OID, CRL_POINTS_OID, id="two-crl-points"),
        pytest.param(OCSP_URI, b"\xa3" + OCSP_URI[1:], id="x400Address"),
    ],
)
def test_extensions_cryptography_cannot_read_are_not_shown(known: bytes, damaged: bytes) -> None:
    """A duplicated extension or an x400Address (neither a ValueError) stopped `certdesk token
    list` and `renew` with a traceback; such a certificate now shows no OCSP address (revocation
    not checked) and no CRL point, as one without them."""
    der = _certificate_with_addresses()
    readable = x509.load_der_x509_certificate(der)
    assert (responder_url(readable), server_of(readable)) == (OCSP_URL, "http://certdesk.example")
    assert der.count(known) == 1
    unreadable = x509.load_der_x509_certificate(der.replace(known, damaged))
    assert (responder_url(unreadable), server_of(unreadable)) == (None, None)
    assert extension(unreadable, x509.KeyUsage) is None
    checked = check(unreadable, readable, now=datetime.now(UTC))
    assert (checked.status, checked.why) == ("not_checked", "no_responder")
