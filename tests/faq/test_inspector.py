"""The certificate inspector against files made by `openssl` and by cryptography."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12

from faq.errors import InspectionError, NotACertificate, PasswordRequired, WrongPassword
from faq.inspector import BER_FALLBACK, ContainerFormat, inspect_certificates
from tests.faq.conftest import NOW, P12_PASSWORD, Pki, openssl_field
from tests.support.pki import (
    bad_version,
    bad_version_pem,
    negative_serial,
    openssl,
    pem_block,
    self_signed,
)


def test_inspect_pem_leaf_reads_subject_in_certificate_order(pki: Pki) -> None:
    inspection = inspect_certificates(pki.leaf_pem.read_bytes(), now=NOW)
    assert inspection.format is ContainerFormat.PEM
    (leaf,) = inspection.certificates
    assert leaf.common_name == "张三 Zhang San"
    assert leaf.organizational_units == ("Branch 01", "RA Shanghai")
    assert leaf.ra_institution == "RA Shanghai"
    assert leaf.organization == "Test CA Org"
    assert leaf.issuer == "CN=Test Root CA,O=Test CA Org"


def test_inspect_serial_and_fingerprint_match_openssl(pki: Pki) -> None:
    (leaf,) = inspect_certificates(pki.leaf_pem.read_bytes(), now=NOW).certificates
    assert leaf.serial_hex == pki.leaf_serial_hex
    assert leaf.sha256_fingerprint == openssl_field(pki.leaf_pem, "-fingerprint -sha256")


def test_inspect_validity_is_utc_and_days_left_counts_from_now(pki: Pki) -> None:
    end = datetime.strptime(openssl_field(pki.leaf_pem, "-enddate"), "%b %d %H:%M:%S %Y %Z")
    end = end.replace(tzinfo=UTC)
    now = end - timedelta(days=42, hours=3)
    (leaf,) = inspect_certificates(pki.leaf_pem.read_bytes(), now=now).certificates
    assert leaf.not_after == end
    assert leaf.not_after.tzinfo is UTC
    assert leaf.not_before < leaf.not_after
    assert leaf.days_left == 43  # 42 days 3 hours, rounded up
    assert not leaf.expired


def test_inspect_key_type_and_size(pki: Pki) -> None:
    (leaf,) = inspect_certificates(pki.leaf_pem.read_bytes(), now=NOW).certificates
    (root,) = inspect_certificates(pki.root_pem.read_bytes(), now=NOW).certificates
    assert (leaf.key_type, leaf.key_size, leaf.curve) == ("EC", 256, "secp256r1")
    assert (root.key_type, root.key_size, root.curve) == ("RSA", 2048, None)


def test_inspect_der_gives_the_same_certificate_as_pem(pki: Pki) -> None:
    from_der = inspect_certificates(pki.leaf_der.read_bytes(), now=NOW)
    from_pem = inspect_certificates(pki.leaf_pem.read_bytes(), now=NOW)
    assert from_der.format is ContainerFormat.DER
    assert from_der.certificates == from_pem.certificates


def test_inspect_pem_bundle_lists_every_certificate_in_file_order(pki: Pki) -> None:
    bundle = pki.leaf_pem.read_bytes() + pki.leaf_key.read_bytes() + pki.root_pem.read_bytes()
    inspection = inspect_certificates(bundle, now=NOW)
    assert [c.common_name for c in inspection.certificates] == ["张三 Zhang San", "Test Root CA"]


@pytest.mark.parametrize("attribute", ["chain_p7b_pem", "chain_p7b_der"])
def test_inspect_pkcs7_chain_lists_each_certificate(pki: Pki, attribute: str) -> None:
    inspection = inspect_certificates(getattr(pki, attribute).read_bytes(), now=NOW)
    assert inspection.format is ContainerFormat.PKCS7
    names = sorted(c.common_name or "" for c in inspection.certificates)
    assert names == ["Test Root CA", "张三 Zhang San"]


def test_inspect_pkcs7_from_cryptography_reads_all_three(p384_der_p7b: bytes) -> None:
    """A DER SET OF is sorted by encoding, so only membership, not input order, is kept."""
    inspection = inspect_certificates(p384_der_p7b, now=NOW)
    days = {c.common_name: c.days_left for c in inspection.certificates}
    assert days == {"Holder 1": 30, "Holder 2": 60, "Holder 3": 90}
    first = inspection.certificates[0]
    assert first.organizational_units == ("Unit A", "RA Beijing", "Team C")
    assert first.ra_institution == "RA Beijing"
    assert (first.key_type, first.key_size, first.curve) == ("EC", 384, "secp384r1")


def test_inspect_pkcs12_with_password_reads_chain_and_friendly_name(pki: Pki) -> None:
    inspection = inspect_certificates(pki.leaf_p12.read_bytes(), now=NOW, password=P12_PASSWORD)
    assert inspection.format is ContainerFormat.PKCS12
    assert inspection.has_private_key
    leaf, root = inspection.certificates
    assert leaf.common_name == "张三 Zhang San"
    assert leaf.friendly_name == "Zhang San signing"
    assert root.common_name == "Test Root CA"


def test_inspect_pkcs12_password_may_be_bytes(pki: Pki) -> None:
    inspection = inspect_certificates(
        pki.leaf_p12.read_bytes(), now=NOW, password=P12_PASSWORD.encode()
    )
    assert inspection.certificates[0].common_name == "张三 Zhang San"


def test_inspect_pkcs12_without_password_raises_password_required(pki: Pki) -> None:
    with pytest.raises(PasswordRequired) as caught:
        inspect_certificates(pki.leaf_p12.read_bytes(), now=NOW)
    assert caught.value.code == "password_required"


def test_inspect_pkcs12_wrong_password_raises_wrong_password(pki: Pki) -> None:
    with pytest.raises(WrongPassword) as caught:
        inspect_certificates(pki.leaf_p12.read_bytes(), now=NOW, password="not it")
    assert caught.value.code == "wrong_password"


def test_inspect_pkcs12_without_a_password_opens_with_or_without_one(pki: Pki) -> None:
    data = pki.leaf_p12_no_password.read_bytes()
    plain = inspect_certificates(data, now=NOW)
    given = inspect_certificates(data, now=NOW, password="anything")
    assert plain.certificates == given.certificates
    assert plain.certificates[0].common_name == "张三 Zhang San"


def test_inspect_expired_certificate_has_negative_days_left(
    expired_ed25519: x509.Certificate,
) -> None:
    pem = expired_ed25519.public_bytes(serialization.Encoding.PEM)
    (info,) = inspect_certificates(pem, now=NOW).certificates
    assert info.days_left == -10  # expired 10 days 1 hour ago
    assert info.expired
    assert (info.key_type, info.key_size) == ("Ed25519", 256)
    assert info.organizational_units == ()
    assert info.ra_institution is None
    assert info.organization is None


def test_inspect_single_ou_has_no_ra_institution() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    from tests.faq.conftest import built_certificate, name

    certificate = built_certificate(
        key=key,
        subject=name(cn="One Unit", ous=("Only OU",), o="Org"),
        not_before=NOW,
        not_after=NOW + timedelta(days=1),
    )
    (info,) = inspect_certificates(
        certificate.public_bytes(serialization.Encoding.DER), now=NOW
    ).certificates
    assert info.organizational_units == ("Only OU",)
    assert info.ra_institution is None


@pytest.mark.parametrize(
    ("data", "detail"),
    [
        (b"", "empty"),
        (b"   \n", "empty"),
        (b"hello, this is a text file\n", "not PEM, DER"),
        (os.urandom(2048), "not PEM, DER"),
        (b"\x30\x82\x01\x00" + b"\x00" * 300, "not PEM, DER"),
        (b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n", "damaged"),
        (b"-----BEGIN PKCS7-----\nAAAA\n-----END PKCS7-----\n", "damaged"),
        (b"-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n", "revocation list"),
    ],
)
def test_inspect_garbage_raises_not_a_certificate(data: bytes, detail: str) -> None:
    with pytest.raises(NotACertificate) as caught:
        inspect_certificates(data, now=NOW)
    assert detail in caught.value.detail
    assert caught.value.code == "not_a_certificate"
    assert isinstance(caught.value, InspectionError)


@pytest.mark.parametrize("encoding", ["der", "pem", "pkcs7"])
def test_inspect_certificate_of_an_unknown_version_says_it_is_damaged(encoding: str) -> None:
    """Version 5 is a damaged certificate, not cryptography's InvalidVersion (no ValueError)."""
    _, leaf = self_signed("Test Holder 01", valid_for=timedelta(days=30))
    good = leaf.public_bytes(serialization.Encoding.DER)
    data = {
        "der": lambda: bad_version(leaf),
        "pem": lambda: bad_version_pem(leaf),
        "pkcs7": lambda: pkcs7.serialize_certificates([leaf], serialization.Encoding.DER).replace(
            good, bad_version(leaf)
        ),
    }[encoding]()
    with pytest.raises(NotACertificate) as caught:
        inspect_certificates(data, now=NOW)
    assert "damaged" in caught.value.detail


@pytest.mark.parametrize("encoding", ["der", "pem", "pem-bundle", "pkcs7", "pkcs7-pem", "x509-pem"])
def test_inspect_certificate_with_a_negative_serial_says_rfc_5280_forbids_it(
    encoding: str,
) -> None:
    """cryptography still reads it, with a deprecation warning; the holder is told what is wrong
    and who can mend it."""
    _, leaf = self_signed("Test Holder 01", valid_for=timedelta(days=30))
    good = leaf.public_bytes(serialization.Encoding.PEM)
    der = leaf.public_bytes(serialization.Encoding.DER)
    bundle = pkcs7.serialize_certificates([leaf, leaf], serialization.Encoding.DER)
    damaged = bundle[: bundle.rindex(der)] + bundle[bundle.rindex(der) :].replace(
        der, negative_serial(leaf)
    )  # the second certificate
    data = {
        "der": lambda: negative_serial(leaf),
        "pem": lambda: pem_block(negative_serial(leaf)),
        "pem-bundle": lambda: good + pem_block(negative_serial(leaf)),
        "pkcs7": lambda: damaged,
        "pkcs7-pem": lambda: pem_block(damaged, "PKCS7"),
        "x509-pem": lambda: pem_block(negative_serial(leaf), "X509 CERTIFICATE"),
    }[encoding]()
    with pytest.raises(NotACertificate) as caught:
        inspect_certificates(data, now=NOW)
    assert caught.value.detail.startswith("its serial number is zero or negative")


@pytest.mark.parametrize("encoding", ["der", "pem"])
def test_inspect_pkcs7_of_another_kind_says_it_is_no_bundle(encoding: str) -> None:
    """A ContentInfo of type Data, not SignedData (as inside a .p12; found by the inspector
    fuzzer as cryptography's UnsupportedAlgorithm, which is no ValueError)."""
    data_oid = bytes.fromhex("06092a864886f70d010701")  # 1.2.840.113549.1.7.1, id-data
    other = b"\x30\x14" + data_oid + b"\xa0\x07\x04\x05hello"
    data = {
        "der": lambda: other,
        "pem": lambda: pem_block(other, "PKCS7"),
    }[encoding]()
    with pytest.raises(NotACertificate) as caught:
        inspect_certificates(data, now=NOW)
    assert (
        caught.value.detail == "it is PKCS#7 data of another kind, not a certificate bundle (.p7b)"
    )


@pytest.mark.filterwarnings(f"ignore:{BER_FALLBACK}:UserWarning")
@pytest.mark.parametrize("kind", ["p7b", "p12"])
def test_container_with_a_newline_after_it_is_read_and_inspect_prints_no_library_warning(
    tmp_path: Path, kind: str
) -> None:
    """cryptography reads it by falling back to BER, with a warning for developers; `certdesk
    inspect` (a process without the suite's warning filters) shows the certificate and no
    such line."""
    key, leaf = self_signed("Test Holder 01", valid_for=timedelta(days=30))
    path = tmp_path / f"holder.{kind}"
    container = {
        "p7b": lambda: pkcs7.serialize_certificates([leaf], serialization.Encoding.DER),
        "p12": lambda: pkcs12.serialize_key_and_certificates(
            b"holder", key, leaf, None, serialization.NoEncryption()
        ),
    }[kind]()
    path.write_bytes(container + b"\n")
    inspected = inspect_certificates(path.read_bytes(), now=NOW)
    shown = subprocess.run(
        [sys.executable, "-m", "bot.cli", "inspect", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert [c.common_name for c in inspected.certificates] == ["Test Holder 01"]
    assert (shown.returncode, shown.stderr) == (0, "")
    assert "Test Holder 01" in shown.stdout


def test_inspect_private_key_file_says_it_is_a_key(pki: Pki) -> None:
    with pytest.raises(NotACertificate, match="private key"):
        inspect_certificates(pki.leaf_key.read_bytes(), now=NOW)


def test_inspect_csr_says_it_is_a_request(tmp_path: os.PathLike[str]) -> None:
    result = openssl(
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        os.fspath(tmp_path) + "/k.pem",
        "-subj",
        "/CN=x",
    )
    assert result.returncode == 0, result.stderr
    with pytest.raises(NotACertificate, match="certificate request"):
        inspect_certificates(result.stdout, now=NOW)


def test_inspect_truncated_der_certificate_is_not_a_certificate(pki: Pki) -> None:
    data = pki.leaf_der.read_bytes()
    with pytest.raises(NotACertificate):
        inspect_certificates(data[: len(data) // 2], now=NOW)


def test_inspect_refuses_naive_now(pki: Pki) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        inspect_certificates(pki.leaf_pem.read_bytes(), now=datetime(2030, 1, 1))


def test_inspection_json_carries_every_field(pki: Pki) -> None:
    data = inspect_certificates(pki.leaf_pem.read_bytes(), now=NOW).to_json()
    (leaf,) = data["certificates"]  # type: ignore[misc]
    assert data["format"] == "pem"
    assert leaf["ou"] == ["Branch 01", "RA Shanghai"]
    assert leaf["ra_institution"] == "RA Shanghai"
    assert leaf["serial"] == pki.leaf_serial_hex
    assert datetime.fromisoformat(leaf["not_after"]).tzinfo is not None
