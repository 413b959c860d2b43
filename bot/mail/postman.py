"""One door for sending a mail: SMTP when ``CERTDESK_SMTP_URL`` is set, else the outbox.

A mail that cannot wait (a new link the RA is handing out now) and that SMTP did not take is
kept in the outbox too (``keep=True``), so nothing is lost; the caller says so. A reminder is
not kept: its claim row is retried by the next pass instead.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Literal

from bot.mail.compose import compose
from bot.mail.outbox import MailOutbox
from bot.mail.smtp import MailFailed, SmtpTransport, parse_smtp_url
from bot.mail.texts import MailKind
from bot.settings import Settings
from common.language import Lang

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class Sent:
    via: Literal["smtp", "outbox"]
    file: Path | None = None


class MailKept(MailFailed):
    """SMTP did not take the mail; it is kept in the outbox at ``file``."""

    def __init__(self, failure: MailFailed, *, file: Path) -> None:
        super().__init__(failure.message, permanent=failure.permanent)
        self.file = file


class Postman:
    def __init__(self, *, sender: str, outbox: MailOutbox, smtp: SmtpTransport | None) -> None:
        self.sender = sender
        self.outbox = outbox
        self.smtp = smtp

    @classmethod
    def from_settings(cls, settings: Settings) -> Postman:
        smtp = None
        if settings.smtp_url is not None:
            smtp = SmtpTransport(parse_smtp_url(settings.smtp_url.get_secret_value()))
        return cls(sender=settings.mail_sender, outbox=MailOutbox(settings.data_dir), smtp=smtp)

    def compose(
        self, kind: MailKind, lang: Lang, *, to: str, values: Mapping[str, object]
    ) -> EmailMessage:
        return compose(kind, lang, to=to, sender=self.sender, values=values)

    async def send(self, message: EmailMessage, *, keep: bool) -> Sent:
        """Deliver ``message``; :class:`MailFailed` when SMTP did not take it (:class:`MailKept`
        when ``keep`` and it was written to the outbox instead)."""
        if self.smtp is None:
            file = await asyncio.to_thread(
                self.outbox.add, message, reason="CERTDESK_SMTP_URL is not set"
            )
            log.info("mail written to the outbox", extra={"file": file.name})
            return Sent(via="outbox", file=file)
        try:
            await self.smtp.send(message)
        except MailFailed as failure:
            log.warning("mail not sent", extra={"error": failure.message})
            if not keep:
                raise
            file = await asyncio.to_thread(self.outbox.add, message, reason=failure.message)
            raise MailKept(failure, file=file) from None
        return Sent(via="smtp")
