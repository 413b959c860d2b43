"""The mail queue's table: mails that wait for a not-before time (schema owned by Alembic)."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from common.time import utcnow
from enrollment.types import UTCDateTime


class QueuedStatus(enum.StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    """A transient failure: sent again after a backoff."""
    UNDELIVERABLE = "undeliverable"
    """A permanent failure (5xx), or the last attempt failed: not retried."""


class QueuedMail(SQLModel, table=True):
    """One mail to send at ``not_before`` or later.

    ``secret`` holds the one secret the mail carries (an authorization or verification code)
    encrypted with a key derived from the secret key (``bot/mail/queue.py``), never in clear.
    """

    __tablename__ = "mail_queue"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)
    recipient: str = Field(max_length=254)
    language: str = Field(max_length=8)
    reference: str = Field(max_length=64)
    subject_cn: str = Field(max_length=64)
    secret: str = Field(sa_type=sa.Text)
    status: str = Field(default=QueuedStatus.PENDING, sa_type=sa.String(16), index=True)
    attempts: int = Field(default=0)
    not_before: datetime = Field(sa_type=UTCDateTime, nullable=False, index=True)
    claimed_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    last_error: str | None = Field(default=None, max_length=500)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
