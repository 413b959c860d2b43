"""From settings to the holder notices, and the one-enrollment function every way of issuing
(``certdesk ra issue``, ``ra issue --from-csv``) goes through: create, then deliver the link by
the holder's channels."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.datadir import load_pepper
from bot.mail.holders import Holder, HolderNotices, holder_language
from bot.mail.issued import Issued
from bot.mail.postman import Postman
from bot.mail.queue import MailQueue
from bot.runtime import Runtime
from bot.settings import Settings
from enrollment.services import EnrollmentCreate
from enrollment.services.ra import NewEnrollment

if TYPE_CHECKING:
    from scheduler.clock import ReminderClock


def mail_queue(settings: Settings, engine: AsyncEngine) -> MailQueue:
    return MailQueue(
        engine=engine, pepper=load_pepper(settings), postman=Postman.from_settings(settings)
    )


def holder_notices(settings: Settings, runtime: Runtime) -> HolderNotices:
    slack = None
    if settings.slack_enabled:
        from bot.notify import slack_web_client

        slack = slack_web_client(settings)
    return HolderNotices(
        postman=Postman.from_settings(settings),
        queue=mail_queue(settings, runtime.engine),
        slack=slack,
        public_url=settings.public_url,
        code_mode=settings.mail_code,
        code_delay=timedelta(minutes=settings.mail_code_delay_minutes),
    )


QUEUE_INTERVAL = timedelta(minutes=1)


def mail_queue_clock(settings: Settings, engine: AsyncEngine) -> ReminderClock:
    """A clock sending the queue's due mails every minute (the reminder clock's machinery)."""
    from scheduler.clock import ReminderClock

    queue = mail_queue(settings, engine)
    return ReminderClock(run_pass=queue.send_due, interval=QUEUE_INTERVAL, name="mail queue")


async def issue_enrollment(
    runtime: Runtime, notices: HolderNotices, request: EnrollmentCreate, *, actor: str
) -> Issued:
    """Create the enrollment, then send its link (never its code) by the holder's channels."""
    created = await runtime.services.ra.create_enrollment(request, actor=actor)
    return await deliver_enrollment(runtime, notices, request, created, actor=actor)


async def deliver_enrollment(
    runtime: Runtime,
    notices: HolderNotices,
    request: EnrollmentCreate,
    created: NewEnrollment,
    *,
    actor: str,
) -> Issued:
    """Send a created enrollment's link (never its code) by the holder's channels; audited."""
    holder = Holder(
        cn=request.cn,
        email=request.email,
        slack_user=request.slack_user,
        notify=request.notify,
        lang=holder_language(request.language, request.cn),
    )
    deliveries = await notices.enrollment_link(
        holder,
        reference=created.reference_number,
        link=created.link,
        code=created.authorization_code,
    )
    if deliveries:
        await runtime.services.ra.audit(
            actor=actor,
            action="link.deliver",
            target=created.reference_number,
            detail={"channels": [d.channel for d in deliveries if d.ok]},
        )
    return Issued(created=created, deliveries=deliveries)
