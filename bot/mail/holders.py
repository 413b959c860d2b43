"""Who gets what: links and notices reach the holder by Slack, by mail, or both.

An enrollment or certificate with a Slack user (and Slack on) gets Slack first; one with only
an e-mail address gets mail; ``--notify slack|email|both`` on the enrollment says otherwise,
and a channel that cannot be used (Slack off, no address) falls back to the other.

A mail with a link never carries the code: by default the RA hands the code over on a second
channel; with ``CERTDESK_MAIL_CODE=separate`` it follows in a mail of its own from the queue
(:mod:`bot.mail.queue`), ``CERTDESK_MAIL_CODE_DELAY_MINUTES`` later.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select

from bot import dialog, messages
from bot.dialog import Reply
from bot.mail.postman import MailKept, Postman
from bot.mail.queue import MailQueue
from bot.mail.smtp import MailFailed
from bot.mail.texts import CODE_NOTES, MailKind
from common.language import LANGUAGES, Lang, detect_language
from common.time import utcnow
from enrollment.ca.crl import normalize_serial
from enrollment.models import Certificate, Enrollment, Notify
from enrollment.queries import CertificateView
from enrollment.reads import read_session
from enrollment.services.results import NewLink

if TYPE_CHECKING:
    from slack_sdk.web.async_client import AsyncWebClient  # imports aiohttp: not for `ra issue`

log = logging.getLogger(__name__)

Channel = Literal["slack", "email"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Holder:
    cn: str
    email: str | None
    slack_user: str | None
    notify: Notify | None = None
    lang: Lang = "en"


def holder_language(stored: str | None, cn: str) -> Lang:
    """The language stored with the enrollment, else the one the holder's name is written in."""
    for lang in LANGUAGES:
        if stored == lang:
            return lang
    return detect_language(cn)


def channels(holder: Holder, *, slack_on: bool) -> tuple[Channel, ...]:
    """The channels to use for ``holder``, in order. Pure.

    >>> channels(Holder(cn="A", email="a@example.com", slack_user="U1"), slack_on=True)
    ('slack',)
    >>> channels(Holder(cn="A", email="a@example.com", slack_user="U1"), slack_on=False)
    ('email',)
    """
    slack = holder.slack_user is not None and slack_on
    email = holder.email is not None
    if holder.notify == Notify.BOTH:
        both: list[Channel] = []
        if slack:
            both.append("slack")
        if email:
            both.append("email")
        return tuple(both)
    if holder.notify == Notify.EMAIL:
        return ("email",) if email else ("slack",) if slack else ()
    return ("slack",) if slack else ("email",) if email else ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Delivery:
    channel: Channel
    ok: bool
    detail: str
    outbox_file: str | None = None
    code_mail_at: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "ok": self.ok,
            "detail": self.detail,
            "outbox_file": self.outbox_file,
            "code_mail_at": self.code_mail_at.isoformat() if self.code_mail_at else None,
        }


class HolderLookup:
    """The holder of an enrollment or a certificate (read only)."""

    def __init__(self, *, engine: AsyncEngine) -> None:
        self._engine = engine

    async def of_enrollment(self, reference_number: str) -> Holder | None:
        async with read_session(self._engine) as session:
            row = (
                await session.execute(
                    select(Enrollment).where(col(Enrollment.reference_number) == reference_number)
                )
            ).scalar_one_or_none()
        if row is None:
            return None
        return _holder(row, row.subject_cn, email=row.email, slack_user=row.slack_user)

    async def of_certificate(self, serial: str) -> tuple[Holder, CertificateView] | None:
        serial = normalize_serial(serial)
        async with read_session(self._engine) as session:
            cert = (
                await session.execute(select(Certificate).where(col(Certificate.serial) == serial))
            ).scalar_one_or_none()
            if cert is None:
                return None
            enrollment = (
                await session.get(Enrollment, cert.enrollment_id) if cert.enrollment_id else None
            )
        holder = _holder(
            enrollment, cert.subject_cn, email=cert.owner_email, slack_user=cert.owner_slack_user
        )
        return holder, CertificateView.of(cert)


def _holder(
    enrollment: Enrollment | None, cn: str, *, email: str | None, slack_user: str | None
) -> Holder:
    notify = None
    if enrollment is not None and enrollment.notify in {n.value for n in Notify}:
        notify = Notify(enrollment.notify)
    stored_lang = enrollment.language if enrollment is not None else None
    return Holder(
        cn=cn,
        email=email,
        slack_user=slack_user,
        notify=notify,
        lang=holder_language(stored_lang, cn),
    )


class HolderNotices:
    """Sends links and notices to holders by their channels; reports each delivery."""

    def __init__(
        self,
        *,
        postman: Postman,
        queue: MailQueue,
        slack: AsyncWebClient | None,
        public_url: str,
        code_mode: Literal["operator", "separate"],
        code_delay: timedelta,
    ) -> None:
        self._postman = postman
        self._queue = queue
        self._slack = slack
        self._public_url = public_url
        self._code_mode = code_mode
        self._code_delay = code_delay

    @property
    def separate_codes(self) -> bool:
        return self._code_mode == "separate"

    def channels(self, holder: Holder) -> tuple[Channel, ...]:
        return channels(holder, slack_on=self._slack is not None)

    async def enrollment_link(
        self,
        holder: Holder,
        *,
        reference: str,
        link: NewLink,
        code: str | None,
        resent: bool = False,
    ) -> list[Delivery]:
        lang = holder.lang
        reply = dialog.download_link(
            reference=reference, url=link.url, expires_at=link.expires_at, lang=lang
        )
        if resent:
            reply = Reply(f"{messages.text('resend_dm_intro', lang)}\n{reply.text}", reply.buttons)
        values = {
            "cn": holder.cn,
            "reference": reference,
            "url": link.url,
            "expires": _when(link.expires_at),
            "public_url": self._public_url,
            "code_note": CODE_NOTES[self._code_mode][lang],
        }
        return await self._by_each_channel(
            holder,
            reply,
            lambda: self._mail_with_code("enroll_link", holder, values, "code", reference, code),
        )

    async def renewal_link(
        self,
        holder: Holder,
        certificate: CertificateView,
        *,
        link: NewLink,
        verification_code: str,
    ) -> list[Delivery]:
        lang = holder.lang
        reply = dialog.renewal_link(
            certificate,
            url=link.url,
            expires_at=link.expires_at,
            verification_code=verification_code,
            lang=lang,
        )
        values = {
            "cn": holder.cn,
            "serial": certificate.serial,
            "url": link.url,
            "expires": _when(link.expires_at),
            "code_note": CODE_NOTES[f"renew_{self._code_mode}"][lang],
        }
        return await self._by_each_channel(
            holder,
            reply,
            lambda: self._mail_with_code(
                "renew_link",
                holder,
                values,
                "verification_code",
                certificate.serial,
                verification_code,
            ),
        )

    async def notice(
        self, kind: Literal["revoked", "unlocked"], holder: Holder, values: Mapping[str, object]
    ) -> list[Delivery]:
        """A revocation or unlock notice (a courtesy: failures are reported, not raised)."""
        if kind == "revoked":
            text = messages.text(
                "revoked_dm", holder.lang, cn=holder.cn, serial=str(values["serial"])
            )
        else:
            text = messages.text("unlocked_dm", holder.lang, reference=str(values["reference"]))
        return await self._by_each_channel(
            holder, Reply(text), lambda: self._mail(kind, holder, {"cn": holder.cn, **values})
        )

    async def _by_each_channel(
        self, holder: Holder, reply: Reply, mail: Callable[[], Awaitable[Delivery]]
    ) -> list[Delivery]:
        """``reply`` as a Slack DM and ``mail()`` by mail, by each of the holder's channels in
        turn; what became of each."""
        sent: list[Delivery] = []
        for channel in self.channels(holder):
            if channel == "slack":
                assert holder.slack_user is not None
                sent.append(await self._dm(holder.slack_user, reply, holder.lang))
            else:
                sent.append(await mail())
        return sent

    async def _mail_with_code(
        self,
        kind: MailKind,
        holder: Holder,
        values: Mapping[str, object],
        code_kind: MailKind,
        reference: str,
        code: str | None,
    ) -> Delivery:
        """The link mail; in ``separate`` mode, ``code`` (None: the holder has it already)
        queued to follow on its own."""
        delivery = await self._mail(kind, holder, values)
        if not delivery.ok or not self.separate_codes or code is None:
            return delivery
        assert holder.email is not None
        at = utcnow() + self._code_delay
        await self._queue.enqueue(
            code_kind,
            recipient=holder.email,
            lang=holder.lang,
            reference=reference,
            subject_cn=holder.cn,
            secret=code,
            not_before=at,
        )
        return Delivery(
            channel="email",
            ok=True,
            detail=f"{delivery.detail}; the code follows in a separate mail",
            outbox_file=delivery.outbox_file,
            code_mail_at=at,
        )

    async def _mail(self, kind: MailKind, holder: Holder, values: Mapping[str, object]) -> Delivery:
        assert holder.email is not None
        message = self._postman.compose(kind, holder.lang, to=holder.email, values=values)
        try:
            sent = await self._postman.send(message, keep=True)
        except MailKept as kept:
            return Delivery(
                channel="email",
                ok=False,
                detail=f"not sent to {holder.email}: {kept.message}; the mail is kept in the "
                "outbox (certdesk outbox lists it)",
                outbox_file=str(kept.file),
            )
        except MailFailed as failure:  # pragma: no cover - keep=True always keeps
            return Delivery(channel="email", ok=False, detail=failure.message)
        if sent.via == "outbox":
            return Delivery(
                channel="email",
                ok=True,
                detail=f"written to the outbox for {holder.email} (CERTDESK_SMTP_URL is not set)",
                outbox_file=str(sent.file),
            )
        return Delivery(channel="email", ok=True, detail=f"mailed to {holder.email}")

    async def _dm(self, user: str, reply: Reply, lang: Lang) -> Delivery:
        assert self._slack is not None
        # Imported here: the Block Kit builders load faq's text tools and Slack's block models,
        # and slack_sdk's errors its whole client, which `ra issue` needs only for a DM.
        from slack_sdk.errors import SlackApiError, SlackClientError

        from bot.slack import blocks

        try:
            await self._slack.chat_postMessage(
                channel=user,
                text=blocks.fallback_text(reply.text),
                blocks=blocks.reply_blocks(reply, lang),
                unfurl_links=False,
            )
        except SlackApiError as exc:
            error = exc.response.data.get("error") if isinstance(exc.response.data, dict) else None
            return Delivery(channel="slack", ok=False, detail=f"Slack refused: {error or 'error'}")
        except (SlackClientError, OSError, TimeoutError) as exc:
            return Delivery(channel="slack", ok=False, detail=f"Slack unreachable: {exc!r}"[:300])
        return Delivery(channel="slack", ok=True, detail=f"sent to {user} in Slack")


def _when(at: datetime) -> str:
    return f"{at:%Y-%m-%d %H:%M} UTC"
