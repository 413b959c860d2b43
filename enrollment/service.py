"""Enrollments, one-time links and issuance: the RA's domain logic over the store."""

from __future__ import annotations

import asyncio
import hmac
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPublicKeyTypes,
    CertificatePublicKeyTypes,
    PublicKeyTypes,
)
from pydantic import field_validator, model_validator
from sqlalchemy import delete, func, or_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlmodel import Field, SQLModel, col, select

from common.errors import CertdeskError
from common.links import LinkKind, link_url
from common.time import utcnow
from enrollment import codes, metrics
from enrollment.ca.authority import IssuingCA, KeyType, build_subject
from enrollment.ca.crl import RevokedEntry, build_crl, normalize_serial, parse_reason
from enrollment.ca.csr import check_public_key, key_description, parse_csr, validated_public_key
from enrollment.ca.pkcs12 import (
    ServerPrivateKey,
    build_pkcs12,
    check_password,
    generate_server_key,
    parse_key_type,
)
from enrollment.ca.profiles import PROFILES, Profile, get_profile
from enrollment.db import session_factory
from enrollment.errors import (
    CertificateNotActive,
    CertificateNotFound,
    CodeNotDerivable,
    CredentialsRefused,
    EnrollmentLocked,
    EnrollmentNotFound,
    EnrollmentNotPending,
    KeyNotAllowed,
    LinkError,
    LinkExpired,
    LinkLocked,
    LinkUnknown,
    LinkUsed,
    PolicyError,
    RequestInvalid,
    VerificationFailed,
    WrongCredentials,
)
from enrollment.models import (
    AuditEvent,
    Certificate,
    CertificateStatus,
    Delivery,
    Enrollment,
    EnrollmentStatus,
    LinkPurpose,
    OneTimeLink,
    RevocationList,
)
from enrollment.possession import (
    ChallengeInvalid,
    TooManyChallenges,
    load_certificate,
    verify_renewal,
)
from usbkey.possession import renewal_message

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# Compared against when a reference number is unknown, so that case costs what a wrong code does.
_NO_CODE_HASH = "0" * 64
CHALLENGE_TTL = timedelta(minutes=5)
MAX_OPEN_CHALLENGES = 5


class EnrollmentCreate(SQLModel):
    """What RA staff give to create an enrollment. Validated at construction."""

    cn: str = Field(min_length=1, max_length=64)
    ous: list[str] = Field(default_factory=list, max_length=8)
    o: str | None = Field(default=None, max_length=64)
    email: str | None = Field(default=None, max_length=254)
    slack_user: str | None = Field(default=None, max_length=32)
    profile: str = "client"

    @field_validator("cn", "o")
    @classmethod
    def _strip(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        if not value:
            raise ValueError("must not be blank")
        return value

    @field_validator("ous")
    @classmethod
    def _check_ous(cls, value: list[str]) -> list[str]:
        cleaned = [ou.strip() for ou in value]
        for ou in cleaned:
            if not ou or len(ou) > 64:
                raise ValueError("each OU must have 1 to 64 characters")
        return cleaned

    @field_validator("email")
    @classmethod
    def _check_email(cls, value: str | None) -> str | None:
        if value is not None and not _EMAIL.match(value):
            raise ValueError(f"{value!r} is not an e-mail address")
        return value

    @field_validator("profile")
    @classmethod
    def _check_profile(cls, value: str) -> str:
        get_profile(value)
        return value

    @model_validator(mode="after")
    def _email_if_required(self) -> EnrollmentCreate:
        if get_profile(self.profile).requires_email and not self.email:
            raise ValueError(f"profile {self.profile!r} needs an e-mail address")
        return self


@dataclass(frozen=True, slots=True, kw_only=True)
class EnrollmentConfig:
    public_url: str
    link_ttl: timedelta = timedelta(hours=72)
    max_failed_attempts: int = 5
    crl_validity: timedelta = timedelta(days=7)
    crl_refresh: timedelta = timedelta(days=1)
    # Renewal by possession (`certdesk token renew`) only this close to expiry; None: any time.
    possession_renewal_window: timedelta | None = None

    def __post_init__(self) -> None:
        if self.max_failed_attempts < 1:
            raise ValueError("max_failed_attempts must be at least 1")
        if self.link_ttl <= timedelta(0):
            raise ValueError("link_ttl must be positive")
        window = self.possession_renewal_window
        if window is not None and window <= timedelta(0):
            raise ValueError("possession_renewal_window must be positive (or None)")
        if not timedelta(0) < self.crl_refresh < self.crl_validity:
            raise ValueError("crl_refresh must be positive and shorter than crl_validity")


@dataclass(frozen=True, slots=True, kw_only=True)
class NewLink:
    token: str
    url: str
    expires_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class NewEnrollment:
    enrollment_id: int
    reference_number: str
    authorization_code: str
    link: NewLink


@dataclass(frozen=True, slots=True, kw_only=True)
class RenewalLink:
    """A one-time renewal link and the verification code to send with it (shown once)."""

    link: NewLink
    verification_code: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RenewalChallenge:
    """A one-time challenge for renewal by possession, bound to one certificate."""

    challenge: str
    expires_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerKey:
    """Ask the server to generate the key and return it once, inside a PKCS#12 file."""

    password: str
    key_type: KeyType = "ec-p256"

    def __post_init__(self) -> None:
        check_password(self.password)
        parse_key_type(self.key_type)

    def __repr__(self) -> str:
        return f"ServerKey(password=<hidden>, key_type={self.key_type!r})"


CSR_DELIVERIES = (Delivery.BROWSER, Delivery.CSR, Delivery.TOKEN)


def csr_delivery(value: str) -> Delivery:
    """The delivery a CSR-based request may claim: browser, csr or token."""
    try:
        delivery = Delivery(value)
    except ValueError:
        delivery = None
    if delivery not in CSR_DELIVERIES:
        allowed = ", ".join(d.value for d in CSR_DELIVERIES)
        raise RequestInvalid(f"The delivery {value!r} is not one of: {allowed}.")
    return delivery


@dataclass(frozen=True, slots=True, kw_only=True)
class IssuedCertificate:
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]
    friendly_name: str | None = None
    delivery: Delivery = Delivery.CSR
    replaces: str | None = None

    @property
    def serial(self) -> str:
        return format(self.certificate.serial_number, "x")

    @property
    def not_after(self) -> datetime:
        return self.certificate.not_valid_after_utc

    def certificate_pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode()

    def chain_pem(self) -> str:
        return "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in self.chain)


@dataclass(frozen=True, slots=True, kw_only=True)
class Pkcs12Package:
    """A server-generated key and its certificate, encrypted; the only copy of the key."""

    data: bytes
    issued: IssuedCertificate

    def __repr__(self) -> str:
        return f"Pkcs12Package(<{len(self.data)} bytes>, serial={self.issued.serial})"

    @property
    def filename(self) -> str:
        base = re.sub(r"[^A-Za-z0-9._-]+", "-", self.issued.friendly_name or "").strip("-._")
        return f"{base or 'certificate'}.p12"


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkView:
    """What a page may show about a valid link (never the secrets behind it)."""

    purpose: LinkPurpose
    expires_at: datetime
    enrollment: Enrollment | None
    owner_slack_user: str | None
    certificate_id: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RenewalView:
    """What the renewal page shows: the link owner's certificates, newest first."""

    expires_at: datetime
    owner_slack_user: str | None
    certificates: tuple[Certificate, ...]
    preselected: str | None

    @property
    def renewable(self) -> tuple[Certificate, ...]:
        return tuple(c for c in self.certificates if c.status == CertificateStatus.ACTIVE)


@dataclass(frozen=True, slots=True, kw_only=True)
class ProvenKey:
    """A public key whose possession the protocol has already proven (CMP's POPO signature)."""

    public_key: PublicKeyTypes


KeyMaterial = str | bytes | ServerKey | ProvenKey

# Checks a protocol message's proof of the authorization code (e.g. a CMP MAC). Blocking.
CodeProof = Callable[[str], bool]
# Checks the authorization code against an enrollment found by its reference number; called
# with None for an unknown reference number, where it does the same work and answers False.
CodeCheck = Callable[[Enrollment | None], Awaitable[bool]]
# Why a reference number and code were refused (the protocol chooses what to answer).
_CodeRefusal = EnrollmentNotFound | EnrollmentLocked | WrongCredentials


def _fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex()


def _spki(key: CertificateIssuerPublicKeyTypes | CertificatePublicKeyTypes) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _record(
    cert: x509.Certificate,
    *,
    delivery: Delivery,
    key: str,
    enrollment_id: int | None,
    subject_cn: str,
    subject_ous: list[str],
    subject_o: str | None,
    profile: str,
    friendly_name: str | None,
    owner_slack_user: str | None,
    owner_email: str | None,
) -> Certificate:
    """The database row of a freshly issued certificate."""
    return Certificate(
        serial=format(cert.serial_number, "x"),
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        fingerprint_sha256=_fingerprint(cert),
        pem=cert.public_bytes(serialization.Encoding.PEM).decode(),
        key_type=key,
        delivery=delivery,
        status=CertificateStatus.ACTIVE,
        enrollment_id=enrollment_id,
        subject_cn=subject_cn,
        subject_ous=subject_ous,
        subject_o=subject_o,
        profile=profile,
        friendly_name=friendly_name,
        owner_slack_user=owner_slack_user,
        owner_email=owner_email,
    )


class EnrollmentService:
    """The RA's operations. Every public method is a coroutine and does not block the loop."""

    def __init__(
        self,
        *,
        engine: AsyncEngine,
        ca: IssuingCA,
        pepper: codes.Pepper,
        config: EnrollmentConfig,
    ) -> None:
        self._engine = engine
        self._sessions = session_factory(engine)
        self.ca = ca
        self._pepper = pepper
        self.config = config

    # -- RA operations -------------------------------------------------------------------

    async def create_enrollment(self, request: EnrollmentCreate, *, actor: str) -> NewEnrollment:
        """Create a pending enrollment with a fresh code and one-time download link."""
        for _ in range(10):
            reference = codes.new_reference_number()
            salt = codes.new_code_salt()
            code = self._pepper.derive_code(reference, salt)
            try:
                async with self._sessions() as session, session.begin():
                    enrollment = Enrollment(
                        reference_number=reference,
                        authorization_code_hash=self._pepper.hash_code(code),
                        code_salt=salt,
                        subject_cn=request.cn,
                        subject_ous=list(request.ous),
                        subject_o=request.o,
                        email=request.email,
                        slack_user=request.slack_user,
                        profile=request.profile,
                        created_by=actor,
                    )
                    session.add(enrollment)
                    await session.flush()
                    assert enrollment.id is not None
                    link = self._add_link(
                        session,
                        purpose=LinkPurpose.ENROLL,
                        enrollment_id=enrollment.id,
                        owner=request.slack_user,
                    )
                    self._audit(
                        session,
                        actor=actor,
                        action="enrollment.create",
                        target=reference,
                        detail={"cn": request.cn, "profile": request.profile},
                    )
            except IntegrityError:
                continue  # reference number collision: draw another
            metrics.ENROLLMENTS_CREATED.inc()
            return NewEnrollment(
                enrollment_id=enrollment.id,
                reference_number=reference,
                authorization_code=code,
                link=link,
            )
        raise RuntimeError("could not draw a free reference number in 10 tries")

    async def new_enrollment_link(self, reference_number: str, *, actor: str) -> NewLink:
        """A fresh one-time link for a pending enrollment (earlier links stay valid)."""
        async with self._sessions() as session, session.begin():
            enrollment = await self._enrollment_by_reference(session, reference_number)
            if enrollment.status != EnrollmentStatus.PENDING:
                raise EnrollmentNotPending(
                    f"Enrollment {reference_number} is {enrollment.status}; a new link is only "
                    "given for pending enrollments. Ask RA staff if you need a new certificate."
                )
            assert enrollment.id is not None
            link = self._add_link(
                session,
                purpose=LinkPurpose.ENROLL,
                enrollment_id=enrollment.id,
                owner=enrollment.slack_user,
            )
            self._audit(session, actor=actor, action="link.create", target=reference_number)
            return link

    async def unlock(self, reference_number: str, *, actor: str) -> Enrollment:
        async with self._sessions() as session, session.begin():
            enrollment = await self._enrollment_by_reference(session, reference_number)
            was_locked = enrollment.locked_at is not None
            enrollment.locked_at = None
            enrollment.failed_attempts = 0
            enrollment.updated_at = utcnow()
            session.add(enrollment)
            self._audit(
                session,
                actor=actor,
                action="enrollment.unlock",
                target=reference_number,
                detail={"was_locked": was_locked},
            )
            return enrollment

    async def get_enrollment(self, reference_number: str) -> Enrollment:
        async with self._sessions() as session:
            return await self._enrollment_by_reference(session, reference_number)

    async def audit(
        self,
        *,
        actor: str,
        action: str,
        target: str | None = None,
        outcome: str = "ok",
        detail: dict[str, Any] | None = None,
    ) -> None:
        async with self._sessions() as session, session.begin():
            self._audit(
                session, actor=actor, action=action, target=target, outcome=outcome, detail=detail
            )

    # -- the user's side -----------------------------------------------------------------

    async def inspect_link(self, token: str, *, purpose: LinkPurpose) -> LinkView:
        """Check a link without using it: unknown, expired and used links raise."""
        async with self._sessions() as session:
            link = await self._usable_link(session, token, purpose)
            enrollment = (
                await session.get(Enrollment, link.enrollment_id) if link.enrollment_id else None
            )
            return LinkView(
                purpose=LinkPurpose(link.purpose),
                expires_at=link.expires_at,
                enrollment=enrollment,
                owner_slack_user=link.owner_slack_user,
                certificate_id=link.certificate_id,
            )

    async def redeem_enrollment_link(
        self,
        token: str,
        *,
        reference_number: str,
        authorization_code: str,
        csr: str | bytes,
        delivery: str = "csr",
    ) -> IssuedCertificate:
        """Issue the enrollment's certificate for ``csr``; the link is used up on success only.

        Checks, in order: the link (unknown / expired / used), the lock, the reference number and
        authorization code (a wrong pair counts towards the lock), the CSR (self-signature and
        key). Nothing is written unless a certificate is issued or a wrong code is counted.
        ``delivery`` records where the key lives: ``browser``, ``csr`` or ``token``.
        """
        issued, _ = await self._redeem_enrollment(
            token,
            reference_number=reference_number,
            authorization_code=authorization_code,
            key=csr,
            delivery=csr_delivery(delivery),
        )
        return issued

    async def redeem_enrollment_link_pkcs12(
        self,
        token: str,
        *,
        reference_number: str,
        authorization_code: str,
        server_key: ServerKey,
    ) -> Pkcs12Package:
        """Like :meth:`redeem_enrollment_link`, with a key made here (if the profile allows).

        The key is generated off the event loop and leaves only inside the encrypted PKCS#12;
        it is never written to disk or to the database.
        """
        issued, package = await self._redeem_enrollment(
            token,
            reference_number=reference_number,
            authorization_code=authorization_code,
            key=server_key,
            delivery=Delivery.SERVER,
        )
        assert package is not None
        return Pkcs12Package(data=package, issued=issued)

    async def _redeem_enrollment(
        self,
        token: str,
        *,
        reference_number: str,
        authorization_code: str,
        key: KeyMaterial,
        delivery: Delivery,
    ) -> tuple[IssuedCertificate, bytes | None]:
        failure: EnrollmentLocked | WrongCredentials | None = None
        async with self._sessions() as session, session.begin():
            # One transaction: if anything below raises, nothing is written and the link stays.
            link = await self._usable_link(session, token, LinkPurpose.ENROLL, lock=True)
            # The enrollment's row lock too, as the paths without links (EST, CMP) take it.
            enrollment = await session.get(Enrollment, link.enrollment_id, with_for_update=True)
            assert enrollment is not None
            assert enrollment.id is not None
            self._check_credentials_precondition(enrollment)
            if not self._credentials_match(enrollment, reference_number, authorization_code):
                failure = await self._count_failure(session, enrollment)  # committed
            else:
                issued, package, profile = await self._issue_for_enrollment(
                    session, enrollment, key=key, delivery=delivery, via=delivery, link=link
                )
        if failure is not None:
            metrics.ENROLLMENT_FAILURES.labels(code=failure.code).inc()
            raise failure
        metrics.CERTIFICATES_ISSUED.labels(profile=profile.name, delivery=delivery).inc()
        return issued, package

    # -- protocols that name the enrollment by its reference number (EST, CMP) -----------------

    async def redeem_by_reference(
        self,
        reference_number: str,
        *,
        authorization_code: str,
        csr: str | bytes,
        delivery: str = "csr",
        via: str = "est",
        profile: str | None = None,
    ) -> IssuedCertificate:
        """Issue a pending enrollment's certificate without a link: the reference number names
        the enrollment, the authorization code (sent as is, e.g. EST's HTTP Basic password)
        proves the right to it.

        The protocol adapter passes the reference number and authorization code exactly as the
        client sent them; they are checked here, in this order, inside one transaction that
        holds the enrollment's row lock (PostgreSQL ``FOR UPDATE``; SQLite serializes anyway):

        1. unknown reference number -> :class:`CredentialsRefused`, nothing written;
        2. locked enrollment -> :class:`EnrollmentLocked` (the right code does not help);
        3. wrong code -> counted towards the lock like on the link path, then
           :class:`CredentialsRefused` (or :class:`EnrollmentLocked` on the last attempt);
        4. enrollment not pending (already issued, also through a link) ->
           :class:`EnrollmentNotPending`, only now that the caller has proved the code;
        5. ``profile`` given and not the enrollment's -> :class:`PolicyError`;
        6. the CSR (self-signature, allowed key): :class:`CsrError`, nothing written.

        Steps 1 and 3 raise the same error with the same message, so a caller that maps
        :class:`CredentialsRefused` to one answer does not tell unknown reference numbers from
        wrong codes. Then the certificate is issued exactly as for a link (subject from the
        enrollment, never from the CSR); the enrollment becomes ``issued``, so its one-time
        links stop working (they answer :class:`EnrollmentNotPending`). ``delivery`` is
        ``browser``, ``csr`` or ``token`` as for links; ``via`` names the protocol in the audit
        event ``certificate.issue`` (``{"via": "est"}``).
        """
        checked_delivery = csr_delivery(delivery)

        async def check(enrollment: Enrollment | None) -> bool:
            stored = _NO_CODE_HASH if enrollment is None else enrollment.authorization_code_hash
            return self._pepper.code_matches(authorization_code, stored) and enrollment is not None

        def refuse(failure: _CodeRefusal) -> EnrollmentLocked | CredentialsRefused:
            if isinstance(failure, EnrollmentLocked):
                return failure
            return CredentialsRefused(self.config.max_failed_attempts)

        return await self._redeem_by_reference(
            reference_number,
            check=check,
            refuse=refuse,
            key=csr,
            delivery=checked_delivery,
            via=via,
            profile=profile,
        )

    async def redeem_with_derived_code(
        self,
        reference_number: str,
        *,
        proves_code: CodeProof,
        key: KeyMaterial,
        delivery: Delivery = Delivery.CMP,
        via: str = "cmp",
    ) -> IssuedCertificate:
        """Issue an enrollment's certificate to a protocol client that proves the code.

        For protocols whose messages prove knowledge of the authorization code instead of
        sending it (CMP's MAC): ``proves_code(code)`` is called (in a thread) with the code
        derived for the enrollment. The same checks, in the same order and under the same row
        lock, as :meth:`redeem_by_reference`, except that an unknown reference number raises
        :class:`EnrollmentNotFound` (after the same work) and a wrong proof
        :class:`WrongCredentials` (counted), which the adapter answers alike; an enrollment
        made before derived codes raises :class:`CodeNotDerivable` (nothing counted).
        """
        return await self._redeem_by_reference(
            reference_number,
            check=self._derived_code_check(proves_code),
            refuse=lambda failure: failure,
            key=key,
            delivery=delivery,
            via=via,
        )

    async def authenticate_with_derived_code(
        self, reference_number: str, *, proves_code: CodeProof
    ) -> tuple[Enrollment, list[Certificate]]:
        """The enrollment whose code ``proves_code`` accepts, and its certificates (newest
        first); the same checks and counting as :meth:`redeem_with_derived_code`, no issuance.
        For follow-up messages such as CMP's certConf."""
        failure: _CodeRefusal | None = None
        async with self._sessions() as session, session.begin():
            enrollment, failure = await self._authenticate_by_reference(
                session, reference_number, self._derived_code_check(proves_code)
            )
            if failure is None:
                assert enrollment is not None
                rows = await session.execute(
                    select(Certificate)
                    .where(col(Certificate.enrollment_id) == enrollment.id)
                    .order_by(col(Certificate.created_at).desc(), col(Certificate.id).desc())
                )
                certificates = list(rows.scalars().all())
        if failure is not None:
            metrics.ENROLLMENT_FAILURES.labels(code=failure.code).inc()
            raise failure
        assert enrollment is not None
        return enrollment, certificates

    def transaction_nonce(self, transaction_id: bytes, serial: str) -> bytes:
        """A nonce bound to a protocol transaction and a certificate, recomputable by every
        process (CMP: the ip's senderNonce, which the certConf must echo)."""
        return bytes.fromhex(self._pepper.digest("cmp-nonce", f"{transaction_id.hex()}:{serial}"))[
            :16
        ]

    async def _redeem_by_reference(
        self,
        reference_number: str,
        *,
        check: CodeCheck,
        refuse: Callable[[_CodeRefusal], CertdeskError],
        key: KeyMaterial,
        delivery: Delivery,
        via: str,
        profile: str | None = None,
    ) -> IssuedCertificate:
        """The shared path of :meth:`redeem_by_reference` and :meth:`redeem_with_derived_code`:
        authenticate (``check``), then issue with :meth:`_issue_for_enrollment`. ``refuse``
        turns a refusal (unknown reference number, wrong code, lock) into what the protocol
        raises; a counted wrong code is committed before it is raised."""
        failure: _CodeRefusal | None = None
        async with self._sessions() as session, session.begin():
            enrollment, failure = await self._authenticate_by_reference(
                session, reference_number, check
            )
            if failure is None:
                assert enrollment is not None
                self._check_credentials_precondition(enrollment)
                if profile is not None and enrollment.profile != profile:
                    metrics.ENROLLMENT_FAILURES.labels(code=PolicyError.code).inc()
                    raise PolicyError(
                        f"Enrollment {enrollment.reference_number} is for the profile "
                        f"{enrollment.profile!r}, not {profile!r}. Enroll without a label "
                        f"or with the label {enrollment.profile!r}."
                    )
                issued, _, used_profile = await self._issue_for_enrollment(
                    session, enrollment, key=key, delivery=delivery, via=via
                )
        if failure is not None:
            refusal = refuse(failure)
            metrics.ENROLLMENT_FAILURES.labels(code=refusal.code).inc()
            raise refusal
        metrics.CERTIFICATES_ISSUED.labels(profile=used_profile.name, delivery=delivery).inc()
        return issued

    async def _authenticate_by_reference(
        self, session: AsyncSession, reference_number: str, check: CodeCheck
    ) -> tuple[Enrollment | None, _CodeRefusal | None]:
        """The enrollment named by ``reference_number``, row-locked, if ``check`` accepts the
        code; else the refusal to raise once the transaction is committed.

        An unknown reference number costs the same work (``check(None)``) and writes nothing;
        a locked enrollment raises :class:`EnrollmentLocked` before the code is looked at; a
        wrong code is counted towards the lock (:meth:`_count_failure`).
        """
        enrollment = await self._enrollment_for_update(session, reference_number)
        if enrollment is None:
            await check(None)
            return None, EnrollmentNotFound(
                f"No enrollment has the reference number {reference_number!r}. Check the number."
            )
        if enrollment.locked_at is not None:
            metrics.ENROLLMENT_FAILURES.labels(code=EnrollmentLocked.code).inc()
            raise EnrollmentLocked(enrollment.reference_number)
        if not await check(enrollment):
            return enrollment, await self._count_failure(session, enrollment)  # committed
        return enrollment, None

    def _derived_code_check(self, proves_code: CodeProof) -> CodeCheck:
        """A :data:`CodeCheck` that gives ``proves_code`` the enrollment's derived code."""

        async def check(enrollment: Enrollment | None) -> bool:
            if enrollment is None:
                await asyncio.to_thread(proves_code, codes.new_authorization_code())  # same work
                return False
            if enrollment.code_salt is None:
                metrics.ENROLLMENT_FAILURES.labels(code=CodeNotDerivable.code).inc()
                raise CodeNotDerivable(enrollment.reference_number)
            code = self._pepper.derive_code(enrollment.reference_number, enrollment.code_salt)
            return await asyncio.to_thread(proves_code, code)

        return check

    async def _issue_for_enrollment(
        self,
        session: AsyncSession,
        enrollment: Enrollment,
        *,
        key: KeyMaterial,
        delivery: Delivery,
        via: str,
        link: OneTimeLink | None = None,
    ) -> tuple[IssuedCertificate, bytes | None, Profile]:
        """Issue ``enrollment``'s certificate inside the caller's transaction: the one path
        for a first certificate (link, EST, CMP).

        The caller has checked the credentials and holds the enrollment's row lock. Here: the
        key (from a checked CSR, a key the protocol proved, or one made here), the link claimed
        (if any), the enrollment claimed (``pending`` -> ``issued``, exactly one of several
        racing transactions succeeds, whatever they locked), then the certificate signed,
        recorded and audited (``via``). Anything raised rolls the whole thing back.
        """
        profile = get_profile(enrollment.profile)
        public_key, private_key = await self._obtain_key(profile, key)
        if link is not None:
            await self._claim(session, link)
        now = utcnow()
        await self._claim_enrollment(session, enrollment, now=now)
        cert = await asyncio.to_thread(
            self.ca.issue,
            public_key=public_key,
            subject=build_subject(
                cn=enrollment.subject_cn, ous=enrollment.subject_ous, o=enrollment.subject_o
            ),
            profile=profile,
            email=enrollment.email,
        )
        record = self._certificate_record(
            cert, enrollment=enrollment, delivery=delivery, key=key_description(public_key)
        )
        session.add(record)
        self._audit(
            session,
            actor=enrollment.slack_user or f"ref:{enrollment.reference_number}",
            action="certificate.issue",
            target=record.serial,
            detail={"reference_number": enrollment.reference_number, "via": via},
        )
        issued = IssuedCertificate(
            certificate=cert,
            chain=self.ca.chain,
            friendly_name=record.friendly_name,
            delivery=delivery,
        )
        # Inside the transaction: if packaging failed, the link would stay usable.
        package = await self._package(private_key, issued, key)
        return issued, package, profile

    async def _claim_enrollment(
        self, session: AsyncSession, enrollment: Enrollment, *, now: datetime
    ) -> None:
        """Mark the enrollment issued; exactly one of several concurrent claims succeeds."""
        result = await session.execute(
            update(Enrollment)
            .where(
                col(Enrollment.id) == enrollment.id,
                col(Enrollment.status) == EnrollmentStatus.PENDING,
            )
            .values(
                status=EnrollmentStatus.ISSUED, issued_at=now, updated_at=now, failed_attempts=0
            )
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise EnrollmentNotPending(
                f"Enrollment {enrollment.reference_number} has already been used to issue a "
                "certificate. To get another one, ask the certdesk bot to renew it or ask RA staff."
            )

    # -- renewal -----------------------------------------------------------------------------

    async def create_renewal_link(self, serial: str, *, actor: str) -> RenewalLink:
        """A one-time renewal link for an active certificate, owned by the certificate's owner.

        The verification code is returned once (send it with the link); only its keyed hash
        is stored. The link's page lists all of the owner's active certificates.
        """
        code = codes.new_authorization_code()
        async with self._sessions() as session, session.begin():
            cert = await self._certificate_by_serial(session, serial)
            if cert.status != CertificateStatus.ACTIVE:
                raise CertificateNotActive(
                    f"Certificate {cert.serial} is {cert.status}; only active certificates can be "
                    "renewed. Ask RA staff for a new enrollment."
                )
            link = self._add_link(
                session,
                purpose=LinkPurpose.RENEW,
                certificate_id=cert.id,
                owner=cert.owner_slack_user,
                verification_code_hash=self._verification_hash(code),
            )
            self._audit(session, actor=actor, action="link.create_renewal", target=cert.serial)
        return RenewalLink(link=link, verification_code=code)

    async def renewal_view(self, token: str) -> RenewalView:
        """The certificates a renewal link may renew (unknown / used / expired links raise)."""
        async with self._sessions() as session:
            link = await self._usable_link(session, token, LinkPurpose.RENEW)
            linked = (
                await session.get(Certificate, link.certificate_id) if link.certificate_id else None
            )
            if link.owner_slack_user is not None:
                certificates = await self._certificates_of(session, link.owner_slack_user)
            else:
                certificates = [linked] if linked is not None else []
            return RenewalView(
                expires_at=link.expires_at,
                owner_slack_user=link.owner_slack_user,
                certificates=tuple(certificates),
                preselected=linked.serial if linked is not None else None,
            )

    async def redeem_renewal_link(
        self,
        token: str,
        *,
        serial: str,
        verification_code: str,
        csr: str | bytes,
        delivery: str | None = None,
    ) -> IssuedCertificate:
        """Renew the certificate ``serial`` for a new CSR: same subject, profile, friendly name.

        The old certificate is marked superseded in the same transaction that uses the link.
        A wrong verification code counts; after the limit the link stops working.
        ``delivery`` defaults to how the old certificate was delivered.
        """
        issued, _ = await self._redeem_renewal(
            token,
            serial=serial,
            verification_code=verification_code,
            key=csr,
            delivery=csr_delivery(delivery) if delivery is not None else None,
        )
        return issued

    async def redeem_renewal_link_pkcs12(
        self, token: str, *, serial: str, verification_code: str, server_key: ServerKey
    ) -> Pkcs12Package:
        """Renew with a server-generated key (if the profile allows), returned once as PKCS#12."""
        issued, package = await self._redeem_renewal(
            token,
            serial=serial,
            verification_code=verification_code,
            key=server_key,
            delivery=Delivery.SERVER,
        )
        assert package is not None
        return Pkcs12Package(data=package, issued=issued)

    async def _redeem_renewal(
        self,
        token: str,
        *,
        serial: str,
        verification_code: str,
        key: KeyMaterial,
        delivery: Delivery | None,
    ) -> tuple[IssuedCertificate, bytes | None]:
        failure: LinkLocked | VerificationFailed | None = None
        async with self._sessions() as session, session.begin():
            link = await self._usable_link(session, token, LinkPurpose.RENEW, lock=True)
            if not self._verification_matches(link, verification_code):
                failure = await self._count_link_failure(session, link)  # committed
            else:
                old = await self._renewable_certificate(session, link, serial)
                if delivery is None:
                    old_delivery = Delivery(old.delivery)
                    delivery = old_delivery if old_delivery in CSR_DELIVERIES else Delivery.CSR
                issued, package = await self._issue_successor(
                    session,
                    old=old,
                    key=key,
                    delivery=delivery,
                    claim=link,
                    actor=old.owner_slack_user or f"renewal:{old.serial}",
                )
        if failure is not None:
            metrics.ENROLLMENT_FAILURES.labels(code=failure.code).inc()
            raise failure
        metrics.CERTIFICATES_RENEWED.labels(delivery=delivery).inc()
        return issued, package

    # -- renewal by possession of the current key (`certdesk token renew`) ---------------------

    async def create_renewal_challenge(self, certificate: str | bytes) -> RenewalChallenge:
        """A challenge for renewing ``certificate`` without a link (see ``possession.py``).

        Only an active, unexpired certificate of this CA delivered to a USB key gets one. It is
        stored as a keyed hash, bound to the certificate, works once and for 5 minutes; at most
        :data:`MAX_OPEN_CHALLENGES` may be open per certificate.
        """
        presented = load_certificate(certificate)
        async with self._sessions() as session, session.begin():
            old = await self._possession_renewable(session, presented)
            now = utcnow()
            open_challenges = (
                await session.execute(
                    select(func.count())
                    .select_from(OneTimeLink)
                    .where(
                        col(OneTimeLink.purpose) == LinkPurpose.CHALLENGE,
                        col(OneTimeLink.certificate_id) == old.id,
                        col(OneTimeLink.used_at).is_(None),
                        col(OneTimeLink.expires_at) > now,
                    )
                )
            ).scalar_one()
            if open_challenges >= MAX_OPEN_CHALLENGES:
                raise TooManyChallenges()
            await session.execute(
                delete(OneTimeLink).where(
                    col(OneTimeLink.purpose) == LinkPurpose.CHALLENGE,
                    col(OneTimeLink.certificate_id) == old.id,
                    or_(col(OneTimeLink.used_at).is_not(None), col(OneTimeLink.expires_at) <= now),
                )
            )
            link = self._add_link(
                session,
                purpose=LinkPurpose.CHALLENGE,
                certificate_id=old.id,
                owner=None,
                ttl=CHALLENGE_TTL,
            )
        return RenewalChallenge(challenge=link.token, expires_at=link.expires_at)

    async def renew_by_possession(
        self, *, certificate: str | bytes, csr: str | bytes, challenge: str, signature: str
    ) -> IssuedCertificate:
        """Renew ``certificate`` for ``csr``, proven by a signature of the certificate's key.

        ``signature`` is the current key's over :func:`possession.renewal_message` (challenge,
        certificate, CSR). The challenge is checked and used up first, in its own transaction,
        so every attempt costs one challenge whatever happens next (an unknown challenge is
        refused before anything else is even parsed). Then, in one transaction: the
        certificate must still be renewable, the challenge bound to it, the signature valid,
        the CSR valid with a NEW key; the successor is issued (same subject, profile, friendly
        name, delivered to the token) and the old certificate superseded.
        """
        async with self._sessions() as session, session.begin():
            try:
                link = await self._usable_link(session, challenge, LinkPurpose.CHALLENGE, lock=True)
                await self._claim(session, link)
            except LinkError:
                raise ChallengeInvalid() from None
        presented = load_certificate(certificate)
        csr_der = parse_csr(csr).public_bytes(serialization.Encoding.DER)
        async with self._sessions() as session, session.begin():
            old = await self._possession_renewable(session, presented, lock=True)
            if link.certificate_id != old.id:
                raise ChallengeInvalid()
            message = renewal_message(challenge=challenge, certificate=presented, csr_der=csr_der)
            verify_renewal(presented.public_key(), signature, message)
            new_key = await asyncio.to_thread(validated_public_key, csr_der)
            if _spki(new_key) == _spki(presented.public_key()):
                raise KeyNotAllowed(
                    "The CSR uses the current certificate's key. A renewal needs a new key "
                    "pair; `certdesk token renew` makes one on the USB key."
                )
            issued, _ = await self._issue_successor(
                session,
                old=old,
                key=csr_der,
                delivery=Delivery.TOKEN,
                claim=None,
                actor=old.owner_slack_user or f"possession:{old.serial}",
                detail={"proof": "possession"},
            )
        metrics.CERTIFICATES_RENEWED.labels(delivery=Delivery.TOKEN).inc()
        return issued

    async def _possession_renewable(
        self, session: AsyncSession, presented: x509.Certificate, *, lock: bool = False
    ) -> Certificate:
        """The stored row of ``presented`` if `certdesk token renew` may renew it, else raise:
        what :meth:`_renewable_by_key` checks, and delivered to a USB key."""
        row = await self._renewable_by_key(session, presented, lock=lock)
        if row.delivery != Delivery.TOKEN:
            raise PolicyError(
                f"Certificate {row.serial} is not on a USB key, so it is renewed with a renewal "
                'link, not by `certdesk token renew`. Ask the certdesk bot in Slack ("Renew").'
            )
        return row

    async def _renewable_by_key(
        self, session: AsyncSession, presented: x509.Certificate, *, lock: bool = False
    ) -> Certificate:
        """The stored row of ``presented`` if a holder who proves its key may renew it: exactly
        a certificate this CA issued (serial and fingerprint), active and unexpired, and (if
        configured) within the possession renewal window; `certdesk token renew` and CMP kur
        alike. ``lock`` takes the row lock (PostgreSQL ``FOR UPDATE``)."""
        serial = format(presented.serial_number, "x")
        query = select(Certificate).where(col(Certificate.serial) == serial)
        result = await session.execute(query.with_for_update() if lock else query)
        row = result.scalars().first()
        if row is None or not hmac.compare_digest(row.fingerprint_sha256, _fingerprint(presented)):
            raise CertificateNotFound(
                f"Certificate {serial} was not issued by this certdesk CA, so it cannot be "
                "renewed here. Check the server, or ask RA staff."
            )
        if row.status != CertificateStatus.ACTIVE:
            detail = f" by {row.superseded_by}" if row.superseded_by else ""
            raise CertificateNotActive(
                f"Certificate {row.serial} is {row.status}{detail}; only active certificates "
                "can be renewed. Ask the certdesk bot in Slack for your current certificates."
            )
        if row.not_after <= utcnow():
            raise CertificateNotActive(
                f"Certificate {row.serial} expired on {row.not_after:%Y-%m-%d %H:%M} UTC; an "
                'expired certificate cannot be renewed by its key. Ask the certdesk bot ("Renew") '
                "or RA staff."
            )
        window = self.config.possession_renewal_window
        if window is not None and row.not_after - window > utcnow():
            raise PolicyError(
                f"Certificate {row.serial} can be renewed from "
                f"{row.not_after - window:%Y-%m-%d} on ({window.days} days before it expires)."
            )
        return row

    # -- renewal by a CMP key update (kur), signed with the current certificate's key ----------

    async def renew_by_certificate(
        self, certificate: x509.Certificate, *, key: KeyMaterial, delivery: Delivery = Delivery.CMP
    ) -> IssuedCertificate:
        """Renew ``certificate`` for a holder who proved possession of its key (CMP kur's
        signature, checked by the caller): same subject, profile and owner, the old one
        superseded. It must be exactly a certificate this CA issued, active and unexpired
        (:meth:`_renewable_by_key`); unlike `certdesk token renew`, any delivery."""
        async with self._sessions() as session, session.begin():
            old = await self._renewable_by_key(session, certificate, lock=True)
            issued, _ = await self._issue_successor(
                session,
                old=old,
                key=key,
                delivery=delivery,
                claim=None,
                actor=old.owner_slack_user or f"renewal:{old.serial}",
            )
        metrics.CERTIFICATES_RENEWED.labels(delivery=delivery).inc()
        return issued

    async def successor_of(self, certificate: x509.Certificate) -> Certificate | None:
        """The certificate that superseded ``certificate`` (exactly one of ours), if any."""
        async with self._sessions() as session:
            serial = format(certificate.serial_number, "x")
            result = await session.execute(
                select(Certificate).where(col(Certificate.serial) == serial)
            )
            old = result.scalars().first()
            if old is None or not hmac.compare_digest(
                old.fingerprint_sha256, _fingerprint(certificate)
            ):
                return None
            if old.superseded_by is None:
                return None
            return await self._certificate_by_serial(session, old.superseded_by)

    # -- the one path that issues a successor (renewal link, possession, CMP kur) --------------

    async def _issue_successor(
        self,
        session: AsyncSession,
        *,
        old: Certificate,
        key: KeyMaterial,
        delivery: Delivery,
        claim: OneTimeLink | None,
        actor: str,
        detail: dict[str, Any] | None = None,
    ) -> tuple[IssuedCertificate, bytes | None]:
        """Certify ``key`` as ``old``'s successor and mark ``old`` superseded, in ``session``.

        Same subject, profile, owner and friendly name as ``old``. ``claim`` (a renewal link)
        is used up just before signing, once the key has passed its checks.
        """
        profile = get_profile(old.profile)
        public_key, private_key = await self._obtain_key(profile, key)
        if claim is not None:
            await self._claim(session, claim)
        cert = await asyncio.to_thread(
            self.ca.issue,
            public_key=public_key,
            subject=build_subject(cn=old.subject_cn, ous=old.subject_ous, o=old.subject_o),
            profile=profile,
            email=old.owner_email,
        )
        record = self._renewed_record(
            cert, old=old, delivery=delivery, key=key_description(public_key)
        )
        session.add(record)
        superseded = await session.execute(
            update(Certificate)
            .where(
                col(Certificate.id) == old.id,
                col(Certificate.status) == CertificateStatus.ACTIVE,
            )
            .values(status=CertificateStatus.SUPERSEDED, superseded_by=record.serial)
        )
        if superseded.rowcount != 1:  # type: ignore[attr-defined]
            raise CertificateNotActive(
                f"Certificate {old.serial} was renewed or revoked a moment ago. "
                "Ask the certdesk bot in Slack for your current certificates."
            )
        self._audit(
            session,
            actor=actor,
            action="certificate.renew",
            target=record.serial,
            detail={"replaces": old.serial, "via": delivery, **(detail or {})},
        )
        issued = IssuedCertificate(
            certificate=cert,
            chain=self.ca.chain,
            friendly_name=record.friendly_name,
            delivery=delivery,
            replaces=old.serial,
        )
        return issued, await self._package(private_key, issued, key)

    # -- certificates, revocation and the CRL ----------------------------------------------

    async def list_certificates(self, *, slack_user: str) -> list[Certificate]:
        """The owner's certificates (every status), newest first."""
        async with self._sessions() as session:
            return await self._certificates_of(session, slack_user)

    async def get_certificate(self, serial: str) -> Certificate:
        async with self._sessions() as session:
            return await self._certificate_by_serial(session, serial)

    async def revoke(self, serial: str, *, reason: str, actor: str) -> Certificate:
        """Revoke a certificate (audited) and sign a new CRL in the same transaction.

        ``reason`` is an RFC 5280 reason name (``keyCompromise``, ``key-compromise`` …).
        """
        flag = parse_reason(reason)
        for attempt in range(3):
            try:
                async with self._sessions() as session, session.begin():
                    cert = await self._certificate_by_serial(session, serial)
                    if cert.status == CertificateStatus.REVOKED:
                        assert cert.revoked_at is not None
                        raise CertificateNotActive(
                            f"Certificate {cert.serial} was already revoked on "
                            f"{cert.revoked_at:%Y-%m-%d %H:%M} UTC ({cert.revocation_reason})."
                        )
                    now = utcnow()
                    previous_status = cert.status
                    cert.status = CertificateStatus.REVOKED
                    cert.revoked_at = now
                    cert.revocation_reason = flag.value
                    session.add(cert)
                    self._audit(
                        session,
                        actor=actor,
                        action="certificate.revoke",
                        target=cert.serial,
                        detail={"reason": flag.value, "previous_status": previous_status},
                    )
                    await session.flush()
                    await self._sign_crl(session, now=now)
            except IntegrityError:
                # Another process signed a CRL with the same number: start over and include it.
                if attempt == 2:
                    raise
                continue
            metrics.CERTIFICATES_REVOKED.labels(reason=flag.value).inc()
            return cert
        raise AssertionError("unreachable")

    async def current_crl(self) -> bytes:
        """The current CRL (DER); signs a fresh one when the last is older than crl_refresh."""
        for attempt in range(3):
            try:
                async with self._sessions() as session, session.begin():
                    latest = await self._latest_crl(session)
                    now = utcnow()
                    if latest is not None and now < latest.this_update + self.config.crl_refresh:
                        return latest.der
                    return (await self._sign_crl(session, now=now)).der
            except IntegrityError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def _latest_crl(self, session: AsyncSession) -> RevocationList | None:
        result = await session.execute(
            select(RevocationList).order_by(col(RevocationList.number).desc()).limit(1)
        )
        return result.scalars().first()

    async def _sign_crl(self, session: AsyncSession, *, now: datetime) -> RevocationList:
        latest = await self._latest_crl(session)
        rows = await session.execute(
            select(Certificate)
            .where(col(Certificate.status) == CertificateStatus.REVOKED)
            .order_by(col(Certificate.revoked_at), col(Certificate.id))
        )
        revoked = [
            RevokedEntry(
                serial=c.serial, revoked_at=c.revoked_at or now, reason=c.revocation_reason
            )
            for c in rows.scalars()
        ]
        number = latest.number + 1 if latest is not None else 1
        this_update = now.replace(microsecond=0)
        next_update = this_update + self.config.crl_validity
        crl = await asyncio.to_thread(
            build_crl,
            ca=self.ca,
            number=number,
            revoked=revoked,
            this_update=this_update,
            next_update=next_update,
        )
        record = RevocationList(
            number=number,
            this_update=this_update,
            next_update=next_update,
            revoked_count=len(revoked),
            der=crl.public_bytes(serialization.Encoding.DER),
        )
        session.add(record)
        await session.flush()
        return record

    # -- helpers ---------------------------------------------------------------------------

    async def _obtain_key(
        self, profile: Profile, key: KeyMaterial
    ) -> tuple[CertificateIssuerPublicKeyTypes, ServerPrivateKey | None]:
        """The public key to certify: from a checked CSR, a proven key, or a key made here."""
        if isinstance(key, ProvenKey):
            try:
                return check_public_key(key.public_key), None
            except CertdeskError as exc:
                metrics.ENROLLMENT_FAILURES.labels(code=exc.code).inc()
                raise
        if isinstance(key, ServerKey):
            if not profile.allow_server_keygen:
                metrics.ENROLLMENT_FAILURES.labels(code=PolicyError.code).inc()
                raise PolicyError(
                    f"The profile {profile.name!r} does not allow the server to generate keys. "
                    'Choose "This browser", "USB key" or "My own CSR" instead.'
                )
            private_key = await asyncio.to_thread(generate_server_key, key.key_type)
            return private_key.public_key(), private_key
        try:
            public_key = await asyncio.to_thread(validated_public_key, key)
        except CertdeskError as exc:
            metrics.ENROLLMENT_FAILURES.labels(code=exc.code).inc()
            raise
        return public_key, None

    async def _package(
        self,
        private_key: ServerPrivateKey | None,
        issued: IssuedCertificate,
        key: KeyMaterial,
    ) -> bytes | None:
        if private_key is None or not isinstance(key, ServerKey):
            return None
        return await asyncio.to_thread(
            build_pkcs12,
            key=private_key,
            certificate=issued.certificate,
            chain=issued.chain,
            friendly_name=issued.friendly_name or "certdesk",
            password=key.password,
        )

    def _verification_hash(self, code: str) -> str:
        return self._pepper.digest("verification-code", codes.normalize_code(code))

    def _verification_matches(self, link: OneTimeLink, code: str) -> bool:
        if link.verification_code_hash is None:
            return False
        return hmac.compare_digest(self._verification_hash(code), link.verification_code_hash)

    async def _count_link_failure(
        self, session: AsyncSession, link: OneTimeLink
    ) -> LinkLocked | VerificationFailed:
        await session.execute(
            update(OneTimeLink)
            .where(col(OneTimeLink.id) == link.id)
            .values(failed_attempts=OneTimeLink.failed_attempts + 1)
        )
        attempts = (
            await session.execute(
                select(OneTimeLink.failed_attempts).where(col(OneTimeLink.id) == link.id)
            )
        ).scalar_one()
        limit = self.config.max_failed_attempts
        self._audit(
            session,
            actor="anonymous",
            action="link.wrong_verification_code",
            target=f"link:{link.id}",
            outcome="refused",
        )
        if attempts >= limit:
            self._audit(
                session,
                actor="system",
                action="link.lock",
                target=f"link:{link.id}",
                detail={"failed_attempts": attempts},
            )
            return LinkLocked()
        return VerificationFailed(attempts_left=limit - attempts)

    async def _renewable_certificate(
        self, session: AsyncSession, link: OneTimeLink, serial: str
    ) -> Certificate:
        cert = await self._certificate_by_serial(session, serial)
        covered = cert.id == link.certificate_id or (
            link.owner_slack_user is not None and cert.owner_slack_user == link.owner_slack_user
        )
        if not covered:
            raise CertificateNotFound(
                f"Certificate {serial!r} is not one this link may renew. Choose one of the "
                "certificates listed on the page."
            )
        if cert.status != CertificateStatus.ACTIVE:
            raise CertificateNotActive(
                f"Certificate {cert.serial} is {cert.status}; only active certificates can be "
                "renewed. Choose another one, or ask the certdesk bot in Slack."
            )
        return cert

    async def _certificate_by_serial(self, session: AsyncSession, serial: str) -> Certificate:
        normalized = normalize_serial(serial)
        cert = None
        if normalized:
            result = await session.execute(
                select(Certificate).where(col(Certificate.serial) == normalized)
            )
            cert = result.scalars().first()
        if cert is None:
            raise CertificateNotFound(
                f"No certificate has the serial number {serial!r}. Check the number "
                "(hexadecimal, as `certdesk inspect` shows it)."
            )
        return cert

    async def _certificates_of(self, session: AsyncSession, slack_user: str) -> list[Certificate]:
        result = await session.execute(
            select(Certificate)
            .where(col(Certificate.owner_slack_user) == slack_user)
            .order_by(col(Certificate.created_at).desc(), col(Certificate.id).desc())
        )
        return list(result.scalars().all())

    def _check_credentials_precondition(self, enrollment: Enrollment) -> None:
        if enrollment.locked_at is not None:
            metrics.ENROLLMENT_FAILURES.labels(code=EnrollmentLocked.code).inc()
            raise EnrollmentLocked(enrollment.reference_number)
        if enrollment.status != EnrollmentStatus.PENDING:
            raise EnrollmentNotPending(
                f"Enrollment {enrollment.reference_number} has already been used to issue a "
                "certificate. To get another one, ask the certdesk bot to renew it or ask RA staff."
            )

    def _credentials_match(self, enrollment: Enrollment, reference: str, code: str) -> bool:
        code_ok = self._pepper.code_matches(code, enrollment.authorization_code_hash)
        reference_ok = codes.normalize_reference(reference) == enrollment.reference_number
        return code_ok and reference_ok

    async def _count_failure(
        self, session: AsyncSession, enrollment: Enrollment
    ) -> EnrollmentLocked | WrongCredentials:
        now = utcnow()
        limit = self.config.max_failed_attempts
        await session.execute(
            update(Enrollment)
            .where(col(Enrollment.id) == enrollment.id)
            .values(failed_attempts=Enrollment.failed_attempts + 1, updated_at=now)
        )
        locked = await session.execute(
            update(Enrollment)
            .where(
                col(Enrollment.id) == enrollment.id,
                col(Enrollment.failed_attempts) >= limit,
                col(Enrollment.locked_at).is_(None),
            )
            .values(locked_at=now)
        )
        attempts = (
            await session.execute(
                select(Enrollment.failed_attempts).where(col(Enrollment.id) == enrollment.id)
            )
        ).scalar_one()
        reference = enrollment.reference_number
        if locked.rowcount:  # type: ignore[attr-defined]
            self._audit(
                session,
                actor="system",
                action="enrollment.lock",
                target=reference,
                detail={"failed_attempts": attempts},
            )
        self._audit(
            session,
            actor="anonymous",
            action="enrollment.wrong_code",
            target=reference,
            outcome="refused",
        )
        if attempts >= limit:
            return EnrollmentLocked(reference)
        return WrongCredentials(attempts_left=limit - attempts)

    async def _usable_link(
        self, session: AsyncSession, token: str, purpose: LinkPurpose, *, lock: bool = False
    ) -> OneTimeLink:
        """The link behind ``token``, or the error saying why it cannot be used.

        ``lock`` takes the row lock (PostgreSQL ``FOR UPDATE``; SQLite's transactions are
        already serialized), so racing redemptions queue here and later ones see the link used.
        """
        if not token or len(token) > 128:
            raise LinkUnknown()
        query = select(OneTimeLink).where(
            col(OneTimeLink.token_hash) == self._pepper.hash_token(token)
        )
        result = await session.execute(query.with_for_update() if lock else query)
        link = result.scalars().first()
        if link is None or link.purpose != purpose:
            raise LinkUnknown()
        if link.used_at is not None:
            raise LinkUsed()
        if link.failed_attempts >= self.config.max_failed_attempts:
            raise LinkLocked()
        if link.expires_at <= utcnow():
            raise LinkExpired()
        return link

    async def _claim(self, session: AsyncSession, link: OneTimeLink) -> None:
        """Mark the link used; exactly one of several concurrent claims succeeds."""
        result = await session.execute(
            update(OneTimeLink)
            .where(col(OneTimeLink.id) == link.id, col(OneTimeLink.used_at).is_(None))
            .values(used_at=utcnow())
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise LinkUsed()

    def _add_link(
        self,
        session: AsyncSession,
        *,
        purpose: LinkPurpose,
        enrollment_id: int | None = None,
        certificate_id: int | None = None,
        owner: str | None,
        verification_code_hash: str | None = None,
        ttl: timedelta | None = None,
    ) -> NewLink:
        token = codes.new_link_token()
        expires_at = utcnow() + (ttl or self.config.link_ttl)
        session.add(
            OneTimeLink(
                token_hash=self._pepper.hash_token(token),
                purpose=purpose,
                enrollment_id=enrollment_id,
                certificate_id=certificate_id,
                owner_slack_user=owner,
                verification_code_hash=verification_code_hash,
                expires_at=expires_at,
            )
        )
        kind: LinkKind = "enroll" if purpose == LinkPurpose.ENROLL else "renew"
        return NewLink(
            token=token, url=link_url(self.config.public_url, kind, token), expires_at=expires_at
        )

    def _certificate_record(
        self, cert: x509.Certificate, *, enrollment: Enrollment, delivery: Delivery, key: str
    ) -> Certificate:
        return _record(
            cert,
            delivery=delivery,
            key=key,
            enrollment_id=enrollment.id,
            subject_cn=enrollment.subject_cn,
            subject_ous=list(enrollment.subject_ous),
            subject_o=enrollment.subject_o,
            profile=enrollment.profile,
            friendly_name=f"{enrollment.subject_cn} ({enrollment.reference_number})",
            owner_slack_user=enrollment.slack_user,
            owner_email=enrollment.email,
        )

    def _renewed_record(
        self, cert: x509.Certificate, *, old: Certificate, delivery: Delivery, key: str
    ) -> Certificate:
        """The successor of ``old``: same subject, profile, owner and friendly name."""
        return _record(
            cert,
            delivery=delivery,
            key=key,
            enrollment_id=old.enrollment_id,
            subject_cn=old.subject_cn,
            subject_ous=list(old.subject_ous),
            subject_o=old.subject_o,
            profile=old.profile,
            friendly_name=old.friendly_name,
            owner_slack_user=old.owner_slack_user,
            owner_email=old.owner_email,
        )

    async def _enrollment_for_update(
        self, session: AsyncSession, reference: str
    ) -> Enrollment | None:
        """The enrollment named by ``reference`` with its row lock held, or None."""
        normalized = codes.normalize_reference(reference)
        if not normalized or len(normalized) > 20:  # the column's length
            return None
        result = await session.execute(
            select(Enrollment)
            .where(col(Enrollment.reference_number) == normalized)
            .with_for_update()
        )
        return result.scalars().first()

    async def _enrollment_by_reference(self, session: AsyncSession, reference: str) -> Enrollment:
        normalized = codes.normalize_reference(reference)
        result = await session.execute(
            select(Enrollment).where(col(Enrollment.reference_number) == normalized)
        )
        enrollment = result.scalars().first()
        if enrollment is None:
            raise EnrollmentNotFound(
                f"No enrollment has the reference number {reference!r}. Check the number."
            )
        return enrollment

    @staticmethod
    def _audit(
        session: AsyncSession,
        *,
        actor: str,
        action: str,
        target: str | None = None,
        outcome: str = "ok",
        detail: dict[str, Any] | None = None,
    ) -> None:
        session.add(
            AuditEvent(
                actor=actor, action=action, target=target, outcome=outcome, detail=detail or {}
            )
        )

    async def count(self, model: type[SQLModel]) -> int:
        async with self._sessions() as session:
            result = await session.execute(select(func.count()).select_from(model))
            return int(result.scalar_one())


__all__ = [
    "PROFILES",
    "EnrollmentConfig",
    "EnrollmentCreate",
    "EnrollmentService",
    "IssuedCertificate",
    "LinkView",
    "NewEnrollment",
    "NewLink",
    "Pkcs12Package",
    "ProvenKey",
    "RenewalChallenge",
    "RenewalLink",
    "RenewalView",
    "ServerKey",
]
