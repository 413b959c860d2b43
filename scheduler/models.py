"""The scheduler room's table (schema owned by Alembic, see bot/migrations).

``reminder_sent`` has one row per (certificate, threshold) ever claimed. The UNIQUE constraint on
that pair is what lets any number of clocks run the same pass: a clock claims a reminder by
inserting its row in a transaction of its own *before* delivering, and a clock whose insert hits
the constraint knows another one has it. ``outcome`` then moves ``pending`` -> ``sent`` /
``failed`` / ``undeliverable``; ``attempts`` counts the claims of the row (a retry takes a
``failed`` or stale ``pending`` row over by a compare-and-set on ``attempts``).
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from common.time import utcnow
from enrollment.types import UTCDateTime
from scheduler.policy import Outcome


class ReminderSent(SQLModel, table=True):
    __tablename__ = "reminder_sent"
    __table_args__ = (
        sa.UniqueConstraint(
            "certificate_id", "threshold_days", name="uq_reminder_sent_certificate_threshold"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    certificate_id: int = Field(foreign_key="certificate.id")
    threshold_days: int = Field(description="days before expiry; 0 = the expired notice")
    channel: str = Field(max_length=16, description="the notifier that delivers it")
    outcome: str = Field(default=Outcome.PENDING, sa_type=sa.String(16))
    attempts: int = Field(default=1)
    claimed_by: str = Field(max_length=128, description="host:pid of the claiming clock")
    claimed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    last_error: str | None = Field(default=None, max_length=500)
