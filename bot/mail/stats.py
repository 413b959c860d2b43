"""How many mails failed for good, for ``/ra stats`` and ``certdesk ra stats``: reminders by
mail marked ``undeliverable`` (a 5xx answer, or out of attempts) and queued code mails that
were given up."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col

from bot.mail.models import QueuedMail, QueuedStatus
from enrollment.reads import read_connection
from scheduler.models import ReminderSent
from scheduler.policy import Outcome


@dataclass(frozen=True, slots=True, kw_only=True)
class MailFailures:
    reminders: int
    queued: int

    @property
    def total(self) -> int:
        return self.reminders + self.queued


async def mail_failures(engine: AsyncEngine) -> MailFailures:
    reminders = (
        sa.select(sa.func.count())
        .select_from(ReminderSent)
        .where(
            col(ReminderSent.outcome) == Outcome.UNDELIVERABLE,
            col(ReminderSent.channel) == "email",
        )
    )
    queued = (
        sa.select(sa.func.count())
        .select_from(QueuedMail)
        .where(col(QueuedMail.status) == QueuedStatus.UNDELIVERABLE)
    )
    async with read_connection(engine) as connection:
        return MailFailures(
            reminders=(await connection.execute(reminders)).scalar_one(),
            queued=(await connection.execute(queued)).scalar_one(),
        )


async def failed_mail_count(engine: AsyncEngine) -> int:
    return (await mail_failures(engine)).total
