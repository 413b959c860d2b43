"""Keys on a real SoftHSM2 token serve cryptography's builders unchanged (``pkcs11_keys.py``)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta

import pkcs11
import pytest
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID
from pkcs11 import Attribute

from common.time import utcnow
from tests.support.pki import bad_version, negative_serial, self_signed
from tests.support.softhsm import PIN, SoftHsm, process_softhsm
from usbkey.pkcs11.key_types import TokenKeyType
from usbkey.pkcs11.session import (
    certificates_on,
    choose_token,
    generate_key_pair,
    logged_in,
    open_module,
    store_certificate,
)


@pytest.fixture(scope="module")
def hsm(tmp_path_factory: pytest.TempPathFactory) -> SoftHsm:
    return process_softhsm(tmp_path_factory.mktemp("softhsm"))


@pytest.fixture
def session(hsm: SoftHsm) -> Iterator[pkcs11.Session]:
    label = f"keys-{uuid.uuid4().hex[:8]}"
    hsm.new_token(label)
    token = choose_token(open_module(hsm.module), hsm.module, label)
    with logged_in(token, PIN) as opened:
        yield opened


NAME = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "token key")])


@pytest.mark.parametrize("key_type", ["ec-p256", "ec-p384", "rsa-2048"])
def test_token_key_signs_certificate_csr_and_crl_through_builders(
    session: pkcs11.Session, key_type: TokenKeyType
) -> None:
    pair = generate_key_pair(session, key_type=key_type)
    now = utcnow()
    algorithm = hashes.SHA384() if key_type == "ec-p384" else hashes.SHA256()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(NAME)
        .issuer_name(NAME)
        .public_key(pair.public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=1))
        .sign(pair.private_key, algorithm)
    )
    certificate.verify_directly_issued_by(certificate)
    csr = (
        x509.CertificateSigningRequestBuilder().subject_name(NAME).sign(pair.private_key, algorithm)
    )
    assert csr.is_signature_valid
    crl = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(NAME)
        .last_update(now)
        .next_update(now + timedelta(days=1))
        .sign(pair.private_key, algorithm)
    )
    assert crl.is_signature_valid(pair.public_key)


def test_token_key_is_sensitive_and_cannot_be_exported(session: pkcs11.Session) -> None:
    pair = generate_key_pair(session)
    private = pair.handles[1]
    assert private[Attribute.SENSITIVE] is True
    assert private[Attribute.EXTRACTABLE] is False
    assert private[Attribute.NEVER_EXTRACTABLE] is True
    with pytest.raises(pkcs11.exceptions.AttributeSensitive):
        private[Attribute.VALUE]
    with pytest.raises(UnsupportedAlgorithm):
        pair.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


@pytest.mark.parametrize("damage", [bad_version, negative_serial], ids=["version-5", "serial"])
def test_certificate_the_library_would_not_read_cleanly_on_the_token_is_skipped(
    session: pkcs11.Session, damage: Callable[[x509.Certificate], bytes]
) -> None:
    """A version-5 certificate object (cryptography's InvalidVersion, which is no ValueError)
    or one with a negative serial number (loaded with a deprecation warning; RFC 5280 forbids
    it) is unreadable, so skipped like any other, not raised out of every ``certdesk token``."""
    _, readable = self_signed("Readable", valid_for=timedelta(days=30))
    _, odd = self_signed("Odd", valid_for=timedelta(days=30))
    store_certificate(session, readable, label="readable", identifier=b"\x01")
    session.create_object(
        {
            Attribute.CLASS: pkcs11.ObjectClass.CERTIFICATE,
            Attribute.CERTIFICATE_TYPE: pkcs11.CertificateType.X_509,
            Attribute.TOKEN: True,
            Attribute.LABEL: "odd",
            Attribute.ID: b"\x02",
            Attribute.SUBJECT: odd.subject.public_bytes(),
            Attribute.VALUE: damage(odd),
        }
    )
    assert [found.label for found in certificates_on(session)] == ["readable"]
