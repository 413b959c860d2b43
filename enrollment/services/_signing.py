"""Signing a certificate: the CPU work of an issuance (check or make the key, sign, package),
done in one worker thread before any unit of work, and what it hands to the unit. Internal to
:mod:`enrollment.services`."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPublicKeyTypes

from common.errors import CertdeskError
from common.time import utcnow
from enrollment import metrics
from enrollment.ca.authority import IssuingCA, build_subject
from enrollment.ca.csr import check_public_key, key_description, validated_public_key
from enrollment.ca.pkcs12 import ServerPrivateKey, build_pkcs12, generate_server_key
from enrollment.ca.profiles import Profile
from enrollment.models import Certificate, CertificateStatus, Delivery, Enrollment
from enrollment.services._lean import EnrollmentRow, FirstIssue, LinkRow
from enrollment.services.results import IssuedCertificate, KeyMaterial, ProvenKey, ServerKey
from usbkey.certificates import serial_hex


def fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex()


def sign_now(
    ca: IssuingCA,
    holder: Holder,
    profile: Profile,
    *,
    key: KeyMaterial,
    delivery: Delivery,
    replaces: str | None,
) -> Signed:
    """Check the key (or make one), have ``ca`` sign and package: all the CPU work of one
    issuance, in the calling (worker) thread, nothing stored."""
    public_key, private_key = _obtain_key(key)
    subject = build_subject(cn=holder.cn, ous=holder.ous, o=holder.o)
    cert = ca.issue(public_key=public_key, subject=subject, profile=profile, email=holder.email)
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    row = {
        "serial": serial_hex(cert),
        "subject": subject.rfc4514_string(),  # as the certificate encodes it
        "issuer": ca.issuer_text,
        "not_before": cert.not_valid_before_utc,
        "not_after": cert.not_valid_after_utc,
        "fingerprint_sha256": fingerprint(cert),
        "pem": pem,
        "key_type": key_description(public_key),
        "delivery": delivery,
        "status": CertificateStatus.ACTIVE,
        "enrollment_id": holder.enrollment_id,
        "subject_cn": holder.cn,
        "subject_ous": list(holder.ous),
        "subject_o": holder.o,
        "profile": holder.profile,
        "friendly_name": holder.friendly_name,
        "owner_slack_user": holder.slack_user,
        "owner_email": holder.email,
        "created_at": utcnow(),
    }
    issued = IssuedCertificate(
        certificate=cert,
        chain=ca.chain,
        friendly_name=holder.friendly_name,
        delivery=delivery,
        replaces=replaces,
        certificate_text=pem,
        chain_text=ca.chain_pem().decode(),
    )
    # Before the unit: if packaging failed, the link stays usable.
    package = _package(private_key, issued, key)
    return Signed(issued=issued, row=row, package=package, profile=profile)


def _obtain_key(
    key: KeyMaterial,
) -> tuple[CertificateIssuerPublicKeyTypes, ServerPrivateKey | None]:
    """The public key to certify: from a checked CSR, a proven key, or a key made here."""
    if isinstance(key, ServerKey):
        private_key = generate_server_key(key.key_type)
        return private_key.public_key(), private_key
    try:
        if isinstance(key, ProvenKey):
            return check_public_key(key.public_key), None
        return validated_public_key(key), None
    except CertdeskError as exc:
        metrics.ENROLLMENT_FAILURES.labels(code=exc.code).inc()
        raise


def _package(
    private_key: ServerPrivateKey | None, issued: IssuedCertificate, key: KeyMaterial
) -> bytes | None:
    if private_key is None or not isinstance(key, ServerKey):
        return None
    return build_pkcs12(
        key=private_key,
        certificate=issued.certificate,
        chain=issued.chain,
        friendly_name=issued.friendly_name or "certdesk",
        password=key.password,
        file_format=key.file_format,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Signed:
    """A certificate signed (and packaged) before its unit of work; recorded by the unit."""

    issued: IssuedCertificate
    row: dict[str, Any]  # the certificate table's values
    package: bytes | None
    profile: Profile

    @property
    def serial(self) -> str:
        return str(self.row["serial"])


@dataclass(frozen=True, slots=True)
class FirstIssueSigned:
    """A first certificate signed, and its unit's values: ``facts`` for a Core unit, ``plain``
    the same unit made for the writer's ``sqlite3`` connection (embedded SQLite)."""

    signed: Signed
    facts: FirstIssue
    plain: Callable[[sqlite3.Connection], None] | None


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkSigned:
    """A link and its enrollment as read and checked, with what was signed for them; no
    ``issue`` when the codes did not match (nothing signed)."""

    link: LinkRow
    enrollment: EnrollmentRow
    issue: FirstIssueSigned | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Holder:
    """Whom a certificate is issued to, under which name: the enrollment's, or for a renewal
    the name, profile and owner of the certificate it replaces."""

    enrollment_id: int | None
    cn: str
    ous: list[str]
    o: str | None
    profile: str
    friendly_name: str | None
    slack_user: str | None
    email: str | None

    @classmethod
    def of_enrollment(cls, enrollment: Enrollment | EnrollmentRow) -> Holder:
        return cls(
            enrollment_id=enrollment.id,
            cn=enrollment.subject_cn,
            ous=enrollment.subject_ous,
            o=enrollment.subject_o,
            profile=enrollment.profile,
            friendly_name=f"{enrollment.subject_cn} ({enrollment.reference_number})",
            slack_user=enrollment.slack_user,
            email=enrollment.email,
        )

    @classmethod
    def of_certificate(cls, old: Certificate) -> Holder:
        return cls(
            enrollment_id=old.enrollment_id,
            cn=old.subject_cn,
            ous=old.subject_ous,
            o=old.subject_o,
            profile=old.profile,
            friendly_name=old.friendly_name,
            slack_user=old.owner_slack_user,
            email=old.owner_email,
        )
