"""Reminders by mail, and the notifier that routes each reminder to its owner's channel.

``MailNotifier`` mails the certificate's owner (``owner_email``) in the language stored with
its enrollment (``ra issue --language``), else the one their name is written in; SMTP's 4xx
answers and an unreachable server are transient (the reminder's claim row is retried with the
runner's doubling backoff), 5xx answers permanent (``undeliverable``, audited, counted by
:func:`bot.mail.stats.mail_failures`). Without SMTP the mail goes to the
outbox and counts as delivered.

``RoutingNotifier`` picks per reminder: Slack when the certificate has a Slack owner and Slack
is on; else mail when it has an address; else Slack (which refuses: no owner) or, with Slack
off, the local outbox the chat page shows.
"""

from __future__ import annotations

from bot.mail.holders import HolderLookup
from bot.mail.postman import Postman
from bot.mail.smtp import MailFailed
from bot.mail.texts import MailKind
from common.language import Lang, detect_language
from scheduler.errors import DeliveryError
from scheduler.policy import Reminder, ReminderKind
from scheduler.run import Notifier


class MailNotifier:
    channel = "email"

    def __init__(self, *, postman: Postman, holders: HolderLookup | None = None) -> None:
        self._postman = postman
        self._holders = holders

    async def _language(self, serial: str, cn: str) -> Lang:
        """The language stored with the certificate's enrollment (``ra issue --language``),
        else the one the holder's name is written in."""
        found = await self._holders.of_certificate(serial) if self._holders else None
        return found[0].lang if found is not None else detect_language(cn)

    async def notify(self, reminder: Reminder) -> None:
        cert = reminder.certificate
        if not cert.owner_email:
            raise DeliveryError(
                f"certificate {cert.serial} has no e-mail address to remind", permanent=True
            )
        kind: MailKind = "expired" if reminder.kind == ReminderKind.EXPIRED else "reminder"
        message = self._postman.compose(
            kind,
            await self._language(cert.serial, cert.subject_cn),
            to=cert.owner_email,
            values={
                "cn": cert.subject_cn,
                "serial": cert.serial,
                "days": reminder.days_left,
                "not_after": f"{cert.not_after:%Y-%m-%d %H:%M} UTC",
            },
        )
        try:
            await self._postman.send(message, keep=False)
        except MailFailed as failure:
            raise DeliveryError(failure.message, permanent=failure.permanent) from None


class RoutingNotifier:
    """Slack first, mail for owners with only an address, else ``fallback``."""

    def __init__(self, *, slack: Notifier | None, mail: MailNotifier, fallback: Notifier) -> None:
        self._slack = slack
        self._mail = mail
        self._fallback = fallback

    @property
    def channel(self) -> str:
        return f"{self._slack.channel if self._slack else self._fallback.channel},email"

    def _pick(self, reminder: Reminder) -> Notifier:
        cert = reminder.certificate
        if self._slack is not None and cert.owner_slack_user:
            return self._slack
        if cert.owner_email:
            return self._mail
        return self._fallback

    def channel_for(self, reminder: Reminder) -> str:
        return self._pick(reminder).channel

    async def notify(self, reminder: Reminder) -> None:
        await self._pick(reminder).notify(reminder)
