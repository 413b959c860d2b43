"""Enrollments, one-time links and issuance: the RA's domain logic over the store."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from pydantic import field_validator, model_validator
from sqlalchemy import func, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlmodel import Field, SQLModel, col, select

from enrollment import codes, metrics
from enrollment.ca import IssuingCA, build_subject
from enrollment.csr import key_description, validated_public_key
from enrollment.db import session_factory
from enrollment.errors import (
    CertdeskError,
    EnrollmentLocked,
    EnrollmentNotFound,
    EnrollmentNotPending,
    LinkExpired,
    LinkUnknown,
    LinkUsed,
    WrongCredentials,
)
from enrollment.models import (
    AuditEvent,
    Certificate,
    CertificateStatus,
    Enrollment,
    EnrollmentStatus,
    LinkPurpose,
    OneTimeLink,
)
from enrollment.profiles import PROFILES, get_profile
from enrollment.types import utcnow

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


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

    def __post_init__(self) -> None:
        if self.max_failed_attempts < 1:
            raise ValueError("max_failed_attempts must be at least 1")
        if self.link_ttl <= timedelta(0):
            raise ValueError("link_ttl must be positive")


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
class IssuedCertificate:
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]

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
class LinkView:
    """What a page may show about a valid link (never the secrets behind it)."""

    purpose: LinkPurpose
    expires_at: datetime
    enrollment: Enrollment | None
    owner_slack_user: str | None


def _fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex()


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
        code = codes.new_authorization_code()
        for _ in range(10):
            reference = codes.new_reference_number()
            try:
                async with self._sessions() as session, session.begin():
                    enrollment = Enrollment(
                        reference_number=reference,
                        authorization_code_hash=self._pepper.hash_code(code),
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
        """
        failure: EnrollmentLocked | WrongCredentials | None = None
        async with self._sessions() as session, session.begin():
            # One transaction: if anything below raises, nothing is written and the link stays.
            link = await self._usable_link(session, token, LinkPurpose.ENROLL, lock=True)
            enrollment = await session.get(Enrollment, link.enrollment_id)
            assert enrollment is not None
            assert enrollment.id is not None
            self._check_credentials_precondition(enrollment)
            if not self._credentials_match(enrollment, reference_number, authorization_code):
                failure = await self._count_failure(session, enrollment)  # committed
            else:
                profile = get_profile(enrollment.profile)
                try:
                    public_key = await asyncio.to_thread(validated_public_key, csr)
                except CertdeskError as exc:
                    metrics.ENROLLMENT_FAILURES.labels(code=exc.code).inc()
                    raise
                await self._claim(session, link)
                cert = await asyncio.to_thread(
                    self.ca.issue,
                    public_key=public_key,
                    subject=build_subject(
                        cn=enrollment.subject_cn, ous=enrollment.subject_ous, o=enrollment.subject_o
                    ),
                    profile=profile,
                    email=enrollment.email,
                )
                now = utcnow()
                record = self._certificate_record(
                    cert, enrollment=enrollment, delivery=delivery, key=key_description(public_key)
                )
                session.add(record)
                enrollment.status = EnrollmentStatus.ISSUED
                enrollment.issued_at = now
                enrollment.updated_at = now
                enrollment.failed_attempts = 0
                session.add(enrollment)
                self._audit(
                    session,
                    actor=enrollment.slack_user or f"ref:{enrollment.reference_number}",
                    action="certificate.issue",
                    target=record.serial,
                    detail={"reference_number": enrollment.reference_number, "via": delivery},
                )
        if failure is not None:
            metrics.ENROLLMENT_FAILURES.labels(code=failure.code).inc()
            raise failure
        metrics.CERTIFICATES_ISSUED.labels(profile=profile.name, delivery=delivery).inc()
        return IssuedCertificate(certificate=cert, chain=self.ca.chain)

    # -- helpers ---------------------------------------------------------------------------

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
    ) -> NewLink:
        token = codes.new_link_token()
        expires_at = utcnow() + self.config.link_ttl
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
        path = "enroll" if purpose == LinkPurpose.ENROLL else "renew"
        return NewLink(
            token=token, url=f"{self.config.public_url}/{path}/{token}", expires_at=expires_at
        )

    def _certificate_record(
        self, cert: x509.Certificate, *, enrollment: Enrollment, delivery: str, key: str
    ) -> Certificate:
        return Certificate(
            serial=format(cert.serial_number, "x"),
            enrollment_id=enrollment.id,
            subject=cert.subject.rfc4514_string(),
            issuer=cert.issuer.rfc4514_string(),
            subject_cn=enrollment.subject_cn,
            subject_ous=list(enrollment.subject_ous),
            subject_o=enrollment.subject_o,
            not_before=cert.not_valid_before_utc,
            not_after=cert.not_valid_after_utc,
            fingerprint_sha256=_fingerprint(cert),
            pem=cert.public_bytes(serialization.Encoding.PEM).decode(),
            key_type=key,
            profile=enrollment.profile,
            delivery=delivery,
            friendly_name=f"{enrollment.subject_cn} ({enrollment.reference_number})",
            owner_slack_user=enrollment.slack_user,
            owner_email=enrollment.email,
            status=CertificateStatus.ACTIVE,
        )

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
]
