"""Signing a certificate: the CPU work of an issuance (check or make the key, sign, package),
done in one worker thread before any unit of work, and what it hands to the unit. Internal to
:mod:`enrollment.services`."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import sqlite3
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any, ParamSpec, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPublicKeyTypes

from common.errors import CertdeskError
from common.time import utcnow
from enrollment import metrics
from enrollment.ca.authority import IssuingCA, build_subject
from enrollment.ca.csr import check_public_key, key_description, validated_public_key
from enrollment.ca.pkcs12 import ServerPrivateKey, generate_server_key
from enrollment.ca.profiles import Profile
from enrollment.models import Certificate, CertificateStatus, Delivery, Enrollment
from enrollment.services._lean import EnrollmentRow, FirstIssue, LinkRow
from enrollment.services._packaging import PACKAGER
from enrollment.services.results import IssuedCertificate, KeyMaterial, ProvenKey, ServerKey
from usbkey.certificates import serial_hex

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

KEYGEN_NICENESS = 10  # how much lower than the event loop's thread the key makers run
KEYGEN_WORKERS = 2


class LowPriorityThreads:
    """A small executor whose threads lower their own scheduling priority (their nice value,
    by thread id) as they start. Sharing a core with the event loop, they get it only when the
    loop does not want it. That helps with work that releases the GIL, as RSA key generation
    does; the PKCS#12 around the key does not, so it is built in a process of its own
    (:mod:`._packaging`) while the thread waits."""

    def __init__(self, *, workers: int, niceness: int, name: str) -> None:
        self._niceness = niceness
        self._executor = ThreadPoolExecutor(
            workers, thread_name_prefix=name, initializer=self._lower_priority
        )
        self.calls: Counter[int] = Counter()  # calls run, by the native ID of their thread

    def _lower_priority(self) -> None:
        thread = threading.get_native_id()
        try:  # Linux: a thread's nice value is its own (PRIO_PROCESS with a thread ID)
            current = os.getpriority(os.PRIO_PROCESS, thread)
            os.setpriority(os.PRIO_PROCESS, thread, min(19, current + self._niceness))
        except (AttributeError, OSError) as exc:  # no per-thread priority here: run as is
            log.debug("key threads keep the loop's priority", extra={"error": str(exc)})

    def _call(self, fn: Callable[[], T]) -> T:
        self.calls[threading.get_native_id()] += 1
        return fn()

    async def run(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """``fn(*args, **kwargs)`` in one of the threads, in a copy of the caller's context
        (like :func:`asyncio.to_thread`)."""
        call = partial(contextvars.copy_context().run, fn, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._call, call)


# Server-made keys (made here, packaged by _packaging.PACKAGER): one executor per process.
KEY_MAKERS = LowPriorityThreads(
    workers=KEYGEN_WORKERS, niceness=KEYGEN_NICENESS, name="certdesk-keygen"
)


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
    return PACKAGER.build(  # in a process of its own: most of it holds the GIL
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
