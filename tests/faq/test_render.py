"""Text rendering of inspections for terminals, in English and Chinese."""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from faq.inspector import inspect_certificates
from faq.render import render_inspection
from tests.faq.conftest import NOW, P12_PASSWORD, Pki


def _line(text: str, start: str) -> str:
    (line,) = [row.strip() for row in text.splitlines() if row.strip().startswith(start)]
    return line


def test_render_two_ous_in_order_second_labelled_ra_institution(pki: Pki) -> None:
    text = render_inspection(inspect_certificates(pki.leaf_pem.read_bytes(), now=NOW))
    lines = [row.strip() for row in text.splitlines()]
    first = lines.index(_line(text, "OU 1"))
    second = lines.index(_line(text, "OU 2 (RA institution)"))
    assert first < second
    assert lines[first].endswith("Branch 01")
    assert lines[second].endswith("RA Shanghai")
    assert _line(text, "CN (name)").endswith("张三 Zhang San")
    assert _line(text, "O (organisation)").endswith("Test CA Org")


def test_render_chinese_labels(pki: Pki) -> None:
    data = pki.leaf_pem.read_bytes()
    (info,) = inspect_certificates(data, now=NOW).certificates
    text = render_inspection(inspect_certificates(data, now=info.not_before), language="zh")
    assert _line(text, "OU 2（RA 机构）").endswith("RA Shanghai")
    assert _line(text, "颁发者").endswith(info.issuer)
    assert f"剩余 {(info.not_after - info.not_before).days} 天" in _line(text, "到期时间")


def test_render_lists_each_certificate_of_a_chain(pki: Pki) -> None:
    text = render_inspection(inspect_certificates(pki.chain_p7b_pem.read_bytes(), now=NOW))
    assert "Certificate 1 of 2" in text
    assert "Certificate 2 of 2" in text
    assert "File format: PKCS#7" in text


def test_render_shows_serial_fingerprint_validity_and_key(pki: Pki) -> None:
    inspection = inspect_certificates(pki.leaf_pem.read_bytes(), now=NOW)
    (info,) = inspection.certificates
    text = render_inspection(inspection)
    assert _line(text, "Serial (hex)").endswith(info.serial_hex)
    assert _line(text, "SHA-256 fingerprint").endswith(info.sha256_fingerprint)
    assert f"{info.not_after:%Y-%m-%d %H:%M:%S} UTC" in _line(text, "Valid until")
    assert f"{info.not_before:%Y-%m-%d %H:%M:%S} UTC" in _line(text, "Valid from")
    assert _line(text, "Key").endswith("EC 256 (secp256r1)")


def test_render_expired_certificate_says_so(expired_ed25519: x509.Certificate) -> None:
    pem = expired_ed25519.public_bytes(serialization.Encoding.PEM)
    inspection = inspect_certificates(pem, now=NOW)
    assert "expired 10 days ago" in render_inspection(inspection)
    assert "已过期 10 天" in render_inspection(inspection, language="zh")
    assert _line(render_inspection(inspection), "OU").endswith("(none)")


def test_render_pkcs12_warns_about_private_key(pki: Pki) -> None:
    inspection = inspect_certificates(pki.leaf_p12.read_bytes(), now=NOW, password=P12_PASSWORD)
    text = render_inspection(inspection)
    assert "private key" in text
    assert _line(text, "Friendly name").endswith("Zhang San signing")
