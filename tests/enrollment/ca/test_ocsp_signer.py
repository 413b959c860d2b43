"""The delegated OCSP signer: its certificate's extensions, its file, its rotation; pkilint,
OpenSSL and cryptography judge."""

from __future__ import annotations

import stat
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID

from common.time import utcnow
from enrollment.ca.authority import (
    CREATE_LOCK,
    IssuingCA,
    build_subject,
    load_or_create_local_ca,
)
from enrollment.ca.ocsp_signer import SIGNER_FILE, SignerPolicy, load_or_rotate_signer
from enrollment.ca.profiles import get_profile
from tests.enrollment.ca.test_ca import lint, write
from tests.support.pki import openssl

SHORT = SignerPolicy(validity=timedelta(hours=2), renew_before=timedelta(hours=1))


@pytest.fixture
def ca(tmp_path: Path) -> IssuingCA:
    return load_or_create_local_ca(
        tmp_path / "ca", key_type="ec-p256", organization="Acme CA", crl_url="http://ca.test/crl"
    )


def test_signer_certificate_is_for_ocsp_signing_with_nocheck_under_the_ca(
    ca: IssuingCA, tmp_path: Path
) -> None:
    signer = load_or_rotate_signer(tmp_path / "ca", ca=ca, policy=SignerPolicy())
    cert = signer.certificate
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert list(eku.value) == [ExtendedKeyUsageOID.OCSP_SIGNING]
    assert cert.extensions.get_extension_for_class(x509.OCSPNoCheck)
    basic = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert basic.ca is False
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature
    assert not usage.key_cert_sign
    assert cert.issuer == ca.certificate.subject
    cert.verify_directly_issued_by(ca.certificate)
    assert cert.not_valid_after_utc - cert.not_valid_before_utc <= timedelta(days=30, minutes=5)
    pem = write(tmp_path / "signer.pem", cert)
    assert lint(pem) == ""
    verified = openssl(
        "verify", "-purpose", "ocsphelper", "-CAfile", str(tmp_path / "ca/root.pem"),
        "-untrusted", str(tmp_path / "ca/issuing.pem"), str(pem),
    )  # fmt: skip
    assert verified.returncode == 0, verified.stderr
    text = openssl("x509", "-in", str(pem), "-noout", "-text").stdout.decode()
    assert "OCSP Signing" in text
    assert "OCSP No Check" in text


def test_signer_file_is_private_holds_the_pair_and_is_reused(ca: IssuingCA, tmp_path: Path) -> None:
    first = load_or_rotate_signer(tmp_path / "ca", ca=ca, policy=SignerPolicy())
    path = tmp_path / "ca" / SIGNER_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = serialization.load_pem_private_key(path.read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert key.public_key() == first.certificate.public_key()
    again = load_or_rotate_signer(tmp_path / "ca", ca=ca, policy=SignerPolicy())
    assert again.certificate == first.certificate
    leftovers = [p.name for p in (tmp_path / "ca").iterdir() if p.name.startswith(".")]
    assert leftovers == [CREATE_LOCK]  # the CA's own creation lock, no temporary file


def test_signer_rotates_before_it_expires(ca: IssuingCA, tmp_path: Path) -> None:
    now = utcnow()
    first = load_or_rotate_signer(tmp_path / "ca", ca=ca, policy=SHORT, now=now)
    kept = load_or_rotate_signer(
        tmp_path / "ca", ca=ca, policy=SHORT, now=now + timedelta(minutes=59)
    )
    assert kept.certificate == first.certificate
    rotated = load_or_rotate_signer(
        tmp_path / "ca", ca=ca, policy=SHORT, now=now + timedelta(minutes=61)
    )
    assert rotated.certificate != first.certificate
    assert rotated.certificate.public_key() != first.certificate.public_key()
    assert rotated.certificate.not_valid_after_utc > first.certificate.not_valid_after_utc
    assert first.certificate.not_valid_after_utc > now + timedelta(minutes=61)  # before expiry
    on_file = x509.load_pem_x509_certificate((tmp_path / "ca" / SIGNER_FILE).read_bytes())
    assert on_file == rotated.certificate


def test_signer_of_another_ca_or_a_damaged_file_is_replaced(ca: IssuingCA, tmp_path: Path) -> None:
    other = load_or_create_local_ca(
        tmp_path / "other", key_type="ec-p256", organization="Other", crl_url=None
    )
    foreign = load_or_rotate_signer(tmp_path / "ca", ca=other, policy=SignerPolicy())
    ours = load_or_rotate_signer(tmp_path / "ca", ca=ca, policy=SignerPolicy())
    assert ours.certificate != foreign.certificate
    ours.certificate.verify_directly_issued_by(ca.certificate)
    (tmp_path / "ca" / SIGNER_FILE).write_bytes(b"-----BEGIN PRIVATE KEY-----\ntruncated")
    mended = load_or_rotate_signer(tmp_path / "ca", ca=ca, policy=SignerPolicy())
    mended.certificate.verify_directly_issued_by(ca.certificate)


def test_signer_policy_refuses_a_rotation_point_outside_the_validity() -> None:
    with pytest.raises(ValueError, match="renew_before"):
        SignerPolicy(validity=timedelta(hours=1), renew_before=timedelta(hours=1))


def test_issued_certificates_carry_authority_information_access(
    ca: IssuingCA, tmp_path: Path
) -> None:
    """The OCSP URL and the issuing CA's DER certificate URL, as OpenSSL prints them."""
    published = replace(ca, ocsp_url="http://ca.test/ocsp", ca_issuers_url="http://ca.test/ca.cer")
    cert = published.issue(
        public_key=ec.generate_private_key(ec.SECP256R1()).public_key(),
        subject=build_subject(cn="Holder", o="Acme Bank"),
        profile=get_profile("client"),
    )
    aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess)
    assert not aia.critical
    assert [(d.access_method, d.access_location.value) for d in aia.value] == [
        (AuthorityInformationAccessOID.OCSP, "http://ca.test/ocsp"),
        (AuthorityInformationAccessOID.CA_ISSUERS, "http://ca.test/ca.cer"),
    ]
    pem = write(tmp_path / "leaf.pem", cert)
    text = openssl("x509", "-in", str(pem), "-noout", "-text").stdout.decode()
    assert "OCSP - URI:http://ca.test/ocsp" in text
    assert "CA Issuers - URI:http://ca.test/ca.cer" in text
    assert lint(pem) == ""
    bare = ca.issue(
        public_key=ec.generate_private_key(ec.SECP256R1()).public_key(),
        subject=build_subject(cn="Holder", o="Acme Bank"),
        profile=get_profile("client"),
    )
    with pytest.raises(x509.ExtensionNotFound):
        bare.extensions.get_extension_for_class(x509.AuthorityInformationAccess)
