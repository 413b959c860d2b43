"""RA operations: create an enrollment, give it a new link, unlock it, audit what staff do."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Unpack

from pydantic import field_validator, model_validator
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel

from common.language import Lang
from common.time import utcnow
from enrollment import codes, metrics
from enrollment.ca.profiles import get_profile
from enrollment.errors import EnrollmentNotPending
from enrollment.models import Enrollment, EnrollmentStatus, LinkPurpose, Notify
from enrollment.services._store import Store, audit
from enrollment.services.results import AuditFacts, NewLink

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# C0 and C1 controls, DEL, and the Unicode line and paragraph separators.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _ascii_email(value: str) -> str:
    """``value`` as a certificate can carry it (RFC 5280 rfc822Name: ASCII), the domain's
    U-labels turned into A-labels (``bü.example`` -> ``xn--b-xka.example``)."""
    local, _, domain = value.rpartition("@")
    problem = f"{value!r} cannot go into a certificate"
    if not local.isascii() or _CONTROL.search(value):
        raise ValueError(
            f"{problem}: the part before the @ must be plain ASCII (RFC 5280). Use the "
            "holder's ASCII address."
        )
    try:
        ascii_domain = domain.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise ValueError(
            f"{problem}: the domain is not a valid internationalized domain name. Use the "
            "holder's ASCII address."
        ) from None
    return f"{local}@{ascii_domain}"


def _no_controls(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError(
            "must not contain line breaks or other control characters; type the name on one line"
        )
    return value


class EnrollmentCreate(SQLModel):
    """What RA staff give to create an enrollment. Validated at construction."""

    cn: str = Field(min_length=1, max_length=64)
    ous: list[str] = Field(default_factory=list, max_length=8)
    o: str | None = Field(default=None, max_length=64)
    email: str | None = Field(default=None, max_length=254)
    slack_user: str | None = Field(default=None, max_length=32)
    profile: str = "client"
    notify: Notify | None = None
    """How the holder is told of links: unset = Slack if a Slack user is given, else mail."""
    language: Lang | None = None
    """The holder's language for mails; unset = the language the CN is written in."""

    @field_validator("cn", "o")
    @classmethod
    def _strip(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        if not value:
            raise ValueError("must not be blank")
        return _no_controls(value)

    @field_validator("ous")
    @classmethod
    def _check_ous(cls, value: list[str]) -> list[str]:
        cleaned = [ou.strip() for ou in value]
        for ou in cleaned:
            if not ou or len(ou) > 64:
                raise ValueError("each OU must have 1 to 64 characters")
            _no_controls(ou)
        return cleaned

    @field_validator("email")
    @classmethod
    def _check_email(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not _EMAIL.match(value):
            raise ValueError(f"{value!r} is not an e-mail address")
        return _ascii_email(value)

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

    @model_validator(mode="after")
    def _channel_if_notify(self) -> EnrollmentCreate:
        if self.notify in (Notify.EMAIL, Notify.BOTH) and not self.email:
            raise ValueError(f"notify {self.notify.value!r} needs an e-mail address (--email)")
        if self.notify in (Notify.SLACK, Notify.BOTH) and not self.slack_user:
            raise ValueError(f"notify {self.notify.value!r} needs a Slack user (--slack-user)")
        return self


@dataclass(frozen=True, slots=True, kw_only=True)
class NewEnrollment:
    enrollment_id: int
    reference_number: str
    authorization_code: str
    link: NewLink


class RaOperations:
    """What RA staff do to enrollments (Slack `/ra`, `certdesk ra`); every change audited."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def create_enrollment(self, request: EnrollmentCreate, *, actor: str) -> NewEnrollment:
        """Create a pending enrollment with a fresh code and one-time download link."""
        (created,) = await self.create_enrollments([request], actor=actor)
        return created

    async def create_enrollments(
        self, requests: Sequence[EnrollmentCreate], *, actor: str
    ) -> list[NewEnrollment]:
        """Create one pending enrollment per request, all in one transaction: if any cannot
        be stored, none is (``certdesk ra issue --from-csv``)."""
        store = self._store
        for _ in range(10):
            drawn: list[tuple[Enrollment, str, NewLink]] = []
            try:
                async with store.write() as session:
                    added = [self._add_enrollment(session, r, actor=actor) for r in requests]
                    await session.flush()
                    drawn = [
                        (enrollment, code, self._enrollment_link(session, enrollment))
                        for enrollment, code in added
                    ]
            except IntegrityError:
                continue  # reference number collision: draw them all again
            metrics.ENROLLMENTS_CREATED.inc(len(drawn))
            created = []
            for enrollment, code, link in drawn:
                assert enrollment.id is not None
                created.append(
                    NewEnrollment(
                        enrollment_id=enrollment.id,
                        reference_number=enrollment.reference_number,
                        authorization_code=code,
                        link=link,
                    )
                )
            return created
        raise RuntimeError("could not draw free reference numbers in 10 tries")

    def _add_enrollment(
        self, session: AsyncSession, request: EnrollmentCreate, *, actor: str
    ) -> tuple[Enrollment, str]:
        """Add one enrollment (and its audit row) to ``session``; its code in clear."""
        store = self._store
        reference = codes.new_reference_number()
        salt = codes.new_code_salt()
        code = store.pepper.derive_code(reference, salt)
        enrollment = Enrollment(
            reference_number=reference,
            authorization_code_hash=store.pepper.hash_code(code),
            code_salt=salt,
            subject_cn=request.cn,
            subject_ous=list(request.ous),
            subject_o=request.o,
            email=request.email,
            slack_user=request.slack_user,
            profile=request.profile,
            notify=request.notify,
            language=request.language,
            created_by=actor,
        )
        session.add(enrollment)
        audit(
            session,
            actor=actor,
            action="enrollment.create",
            target=reference,
            detail={"cn": request.cn, "profile": request.profile},
        )
        return enrollment, code

    async def new_enrollment_link(self, reference_number: str, *, actor: str) -> NewLink:
        """A fresh one-time link for a pending enrollment (earlier links stay valid)."""
        store = self._store
        async with store.write() as session:
            enrollment = await store.existing_enrollment(session, reference_number)
            if enrollment.status != EnrollmentStatus.PENDING:
                raise EnrollmentNotPending(
                    f"Enrollment {reference_number} is {enrollment.status}; a new link is only "
                    "given for pending enrollments. Ask RA staff if you need a new certificate."
                )
            link = self._enrollment_link(session, enrollment)
            audit(session, actor=actor, action="link.create", target=reference_number)
            return link

    async def unlock(self, reference_number: str, *, actor: str) -> Enrollment:
        store = self._store
        async with store.write() as session:
            enrollment = await store.existing_enrollment(session, reference_number)
            was_locked = enrollment.locked_at is not None
            enrollment.locked_at = None
            enrollment.failed_attempts = 0
            enrollment.updated_at = utcnow()
            session.add(enrollment)
            audit(
                session,
                actor=actor,
                action="enrollment.unlock",
                target=reference_number,
                detail={"was_locked": was_locked},
            )
            return enrollment

    def _enrollment_link(self, session: AsyncSession, enrollment: Enrollment) -> NewLink:
        """A one-time download link for ``enrollment``, owned by its holder."""
        assert enrollment.id is not None
        return self._store.add_link(
            session,
            purpose=LinkPurpose.ENROLL,
            enrollment_id=enrollment.id,
            owner=enrollment.slack_user,
        )

    async def audit(self, *, actor: str, action: str, **facts: Unpack[AuditFacts]) -> None:
        """Record what staff looked at or were refused (changes audit themselves)."""
        async with self._store.write() as session:
            audit(session, actor=actor, action=action, **facts)
