"""The bot's own tables (schema owned by Alembic, see bot/migrations).

``slack_inbox`` is the durable Slack inbox (see :mod:`bot.slack.inbox`): a request is
acknowledged only once its row is stored; its ``delivery_id`` (the event ID) is unique, so a
retry from Slack, or the same event reaching another process, finds the row and is dropped.
``escalation`` links a user's DM to the thread in the RA channel where staff answer them
(see :mod:`bot.escalation`). ``unanswered_question`` keeps the questions the knowledge module
could not answer confidently, for RA staff to review (see :mod:`bot.unanswered`). Those two
follow SQLModel's Base / Public / table pattern (the question with a Create model too).
"""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from common.time import utcnow
from enrollment.types import UTCDateTime


class SlackInboxItem(SQLModel, table=True):
    __tablename__ = "slack_inbox"
    __table_args__ = (
        # The worker's claim reads only the unfinished rows, oldest due first.
        sa.Index(
            "ix_slack_inbox_pending",
            "due_at",
            sqlite_where=sa.text("done_at IS NULL"),
            postgresql_where=sa.text("done_at IS NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    delivery_id: str = Field(max_length=64, unique=True)
    kind: str = Field(max_length=16)
    body: str = Field(sa_type=sa.Text)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    due_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    attempts: int = Field(default=0)
    claimed_by: str | None = Field(default=None, max_length=64)
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    replies: str = Field(default="", sa_type=sa.Text)
    done_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    outcome: str | None = Field(default=None, max_length=16)


class EscalationStatus(enum.StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


class EscalationBase(SQLModel):
    user_id: str = Field(max_length=32, index=True)
    user_channel: str = Field(max_length=32)
    ra_channel: str = Field(max_length=32)
    thread_ts: str | None = Field(default=None, max_length=32)
    question: str = Field(default="", sa_type=sa.Text)
    lang: str = Field(default="en", max_length=8)
    status: str = Field(default=EscalationStatus.OPEN, sa_type=sa.String(16))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    resolved_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    resolved_by: str | None = Field(default=None, max_length=32)


class Escalation(EscalationBase, table=True):
    __tablename__ = "escalation"
    __table_args__ = (
        sa.UniqueConstraint("ra_channel", "thread_ts", name="uq_escalation_thread"),
        # At most one open escalation per user, on SQLite and PostgreSQL alike.
        sa.Index(
            "uq_escalation_open_user",
            "user_id",
            unique=True,
            sqlite_where=sa.text("status = 'open'"),
            postgresql_where=sa.text("status = 'open'"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)


class EscalationPublic(EscalationBase):
    """An escalation as the Slack adapter reads it, detached from its session."""

    id: int

    @property
    def is_open(self) -> bool:
        return self.status == EscalationStatus.OPEN


MAX_QUESTION_LENGTH = 1000


class UnansweredQuestionBase(SQLModel):
    question: str = Field(min_length=1, max_length=MAX_QUESTION_LENGTH)
    language: str = Field(max_length=8)
    best_id: str | None = Field(default=None, max_length=64)
    score: float = Field(ge=0, le=1)
    source: str = Field(max_length=32)


class UnansweredQuestionCreate(UnansweredQuestionBase):
    """What is stored: the question, its language, the best guess and where it came from."""


class UnansweredQuestion(UnansweredQuestionBase, table=True):
    __tablename__ = "unanswered_question"

    id: int | None = Field(default=None, primary_key=True)
    asked_at: datetime = Field(
        default_factory=utcnow, sa_type=UTCDateTime, nullable=False, index=True
    )
    reviewed: bool = Field(default=False, index=True)
    # The same question asked again while it waits for review counts here.
    times_asked: int = Field(default=1, sa_column_kwargs={"server_default": "1"})
    last_asked_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)


class UnansweredQuestionPublic(UnansweredQuestionBase):
    id: int
    asked_at: datetime
    reviewed: bool
    times_asked: int = 1
    last_asked_at: datetime | None = None
