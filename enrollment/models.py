"""SQLModel tables of the enrollment room (schema owned by Alembic, see bot/migrations)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from common.time import utcnow
from enrollment.kinds import (  # the tables' values, importable without SQLAlchemy
    CertificateStatus as CertificateStatus,
)
from enrollment.kinds import Delivery as Delivery
from enrollment.kinds import EnrollmentStatus as EnrollmentStatus
from enrollment.kinds import LinkPurpose as LinkPurpose
from enrollment.kinds import Notify as Notify
from enrollment.types import UTCDateTime


def _utc_column(*, nullable: bool = True, index: bool = False) -> Any:
    return Field(default=None, sa_type=UTCDateTime, nullable=nullable, index=index)


class SubjectBase(SQLModel):
    subject_cn: str = Field(max_length=64)
    subject_ous: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    subject_o: str | None = Field(default=None, max_length=64)


class EnrollmentBase(SubjectBase):
    email: str | None = Field(default=None, max_length=254)
    slack_user: str | None = Field(default=None, max_length=32, index=True)
    profile: str = Field(default="client", max_length=32)
    notify: str | None = Field(default=None, max_length=8)
    language: str | None = Field(default=None, max_length=8)


class Enrollment(EnrollmentBase, table=True):
    __tablename__ = "enrollment"

    id: int | None = Field(default=None, primary_key=True)
    reference_number: str = Field(max_length=20, unique=True, index=True)
    authorization_code_hash: str = Field(max_length=64)
    # Random data the code is derived from with the pepper (codes.Pepper.derive_code); NULL for
    # enrollments made before CMP, whose codes cannot be recomputed.
    code_salt: str | None = Field(default=None, max_length=64)
    status: str = Field(default=EnrollmentStatus.PENDING, sa_type=sa.String(16))
    failed_attempts: int = Field(default=0)
    locked_at: datetime | None = _utc_column()
    created_by: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    issued_at: datetime | None = _utc_column()


class Certificate(SubjectBase, table=True):
    __tablename__ = "certificate"
    # The reminder pass selects active certificates by expiry (scheduler/run.py:candidates):
    # equality on status, then a range on not_after.
    __table_args__ = (sa.Index("ix_certificate_status_not_after", "status", "not_after"),)

    id: int | None = Field(default=None, primary_key=True)
    serial: str = Field(max_length=64, unique=True, index=True)
    enrollment_id: int | None = Field(default=None, foreign_key="enrollment.id", index=True)
    subject: str = Field(max_length=512)
    issuer: str = Field(max_length=512)
    not_before: datetime = Field(sa_type=UTCDateTime, nullable=False)
    not_after: datetime = Field(sa_type=UTCDateTime, nullable=False, index=True)
    fingerprint_sha256: str = Field(max_length=64, unique=True)
    pem: str = Field(sa_type=sa.Text)
    key_type: str = Field(max_length=32)
    profile: str = Field(default="client", max_length=32)
    delivery: str = Field(default="csr", max_length=16)
    friendly_name: str | None = Field(default=None, max_length=128)
    owner_slack_user: str | None = Field(default=None, max_length=32, index=True)
    owner_email: str | None = Field(default=None, max_length=254)
    status: str = Field(default=CertificateStatus.ACTIVE, sa_type=sa.String(16))
    superseded_by: str | None = Field(default=None, max_length=64)
    revoked_at: datetime | None = _utc_column()
    revocation_reason: str | None = Field(default=None, max_length=32)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class OneTimeLink(SQLModel, table=True):
    __tablename__ = "one_time_link"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True, index=True)
    purpose: str = Field(sa_type=sa.String(16))
    enrollment_id: int | None = Field(default=None, foreign_key="enrollment.id", index=True)
    certificate_id: int | None = Field(default=None, foreign_key="certificate.id", index=True)
    owner_slack_user: str | None = Field(default=None, max_length=32)
    verification_code_hash: str | None = Field(default=None, max_length=64)
    failed_attempts: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    expires_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    used_at: datetime | None = _utc_column()
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_event"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False, index=True)
    actor: str = Field(max_length=64)
    action: str = Field(max_length=64, index=True)
    target: str | None = Field(default=None, max_length=128)
    outcome: str = Field(default="ok", max_length=16)
    detail: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)


class RevocationList(SQLModel, table=True):
    """Every CRL the CA has signed; the one with the highest number is current."""

    __tablename__ = "revocation_list"

    number: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    this_update: datetime = Field(sa_type=UTCDateTime, nullable=False)
    next_update: datetime = Field(sa_type=UTCDateTime, nullable=False)
    revoked_count: int = Field(default=0)
    der: bytes = Field(sa_type=sa.LargeBinary)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
