"""The Slack side of certdesk: the dependencies the listeners share and the flows they run.

Listeners (``bot/slack/listeners``) acknowledge, then call a flow here. A flow asks the dialog
what to say, does the I/O (database, enrollment use cases, Slack Web API) and returns a
:class:`~bot.dialog.Reply` or sends one. Links are only ever created for the Slack user an
enrollment or certificate belongs to, and only ever sent to that user (their DM, or an
ephemeral reply only they can see).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar, Unpack
from urllib.parse import urlsplit

import aiohttp
from pydantic import ValidationError
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import dialog, messages
from bot.dialog import (
    Act,
    Button,
    CertificateReader,
    GiveLink,
    Reply,
)
from bot.escalation import Escalations
from bot.models import EscalationPublic
from bot.questions import Questions
from bot.settings import Settings
from bot.slack import blocks
from bot.slack.background import BackgroundTasks
from bot.slack.inbox import current_delivery
from bot.slack.staff import StaffDirectory
from bot.slack.syntax import IssueArgs
from bot.unanswered import UnansweredLog
from common.errors import CertdeskError
from common.language import Lang, detect_language, locale_language
from common.time import utcnow
from enrollment.errors import RequestTooLarge
from enrollment.queries import EnrollmentQueries
from enrollment.services import EnrollmentCreate
from enrollment.services.creation import field_problems
from enrollment.services.ra import RaOperations
from enrollment.services.renewal import LinkRenewal
from enrollment.services.results import AuditFacts
from enrollment.services.revocation import Revocation
from enrollment.web.body import read_body
from faq.review import group_questions

log = logging.getLogger(__name__)

T = TypeVar("T")

USER_CACHE_SECONDS = 3600.0
MAX_FILE_BYTES = 256 * 1024
HOME_UNANSWERED_ROWS = 500  # waiting questions read for App Home's grouped list
SLACK_FILE_HOSTS = frozenset({"files.slack.com"})


def actor(user_id: str) -> str:
    return f"slack:{user_id}"


def slack_error_code(exc: SlackApiError) -> str:
    error = exc.response.get("error") if exc.response is not None else None
    return str(error or "unknown_error")


def validation_problems(exc: ValidationError) -> str:
    return "; ".join(map(str, field_problems(exc)))


def enrollment_request(args: IssueArgs) -> EnrollmentCreate:
    """The enrollment ``/ra issue`` (command or modal) asks for; raises ``ValidationError``."""
    profile: dict[str, Any] = {"profile": args.profile} if args.profile else {}
    return EnrollmentCreate(
        cn=args.cn,
        ous=list(args.ous),
        o=args.o,
        email=args.email,
        slack_user=args.user or None,
        **profile,
    )


async def refused_as_reply(call: Awaitable[T], lang: Lang) -> T | Reply:
    """``call``'s result, or, when the service refuses, its message with a "talk to RA" button."""
    try:
        return await call
    except CertdeskError as exc:
        return Reply(exc.message, (dialog.talk_to_ra_button(lang),))


@dataclass(frozen=True, slots=True)
class SlackUser:
    lang: Lang
    is_bot: bool
    deleted: bool


@dataclass(kw_only=True)
class Desk:
    settings: Settings
    ra: RaOperations
    renewal: LinkRenewal
    revocation: Revocation
    queries: EnrollmentQueries
    escalations: Escalations
    questions: Questions
    read_certificate_file: CertificateReader | None
    staff: StaffDirectory
    tasks: BackgroundTasks
    http: aiohttp.ClientSession
    mail_failures: Callable[[], Awaitable[int]] | None = None
    """How many mails failed for good (bot/mail/stats.py), for ``/ra stats``."""
    _users: dict[str, tuple[float, SlackUser]] = field(default_factory=dict)
    _dm_channels: dict[str, str] = field(default_factory=dict)

    @property
    def unanswered(self) -> UnansweredLog:
        return self.questions.unanswered

    # -- plumbing ------------------------------------------------------------------------

    def later(self, work: Coroutine[Any, Any, None], *, name: str) -> None:
        """Run ``work`` after the acknowledgement (command, action and view listeners; events
        are already dispatched after theirs); failures are logged."""
        self.tasks.spawn(work, name=name)

    async def user(self, client: AsyncWebClient, user_id: str) -> SlackUser | None:
        """The user's language (Slack locale) and kind; None when Slack does not know them."""
        cached = self._users.get(user_id)
        if cached is not None and time.monotonic() - cached[0] < USER_CACHE_SECONDS:
            return cached[1]
        try:
            response = await client.users_info(user=user_id, include_locale=True)
        except SlackApiError as exc:
            log.warning(
                "users.info failed", extra={"user": user_id, "error": slack_error_code(exc)}
            )
            return None
        data = response.get("user") or {}
        found = SlackUser(
            lang=locale_language(data.get("locale")),
            is_bot=bool(data.get("is_bot")) or bool(data.get("is_app_user")),
            deleted=bool(data.get("deleted")),
        )
        self._users[user_id] = (time.monotonic(), found)
        return found

    async def language(
        self,
        client: AsyncWebClient,
        user_id: str,
        *,
        text: str | None = None,
        block_id: str | None = None,
    ) -> Lang:
        """The language to answer in: the message's own, the clicked message's, the locale's."""
        if text and text.strip():
            known = await self.user(client, user_id)
            return detect_language(text, fallback=known.lang if known else "en")
        from_block = blocks.block_language(block_id)
        if from_block is not None:
            return from_block
        known = await self.user(client, user_id)
        return known.lang if known else "en"

    async def dm_channel(self, client: AsyncWebClient, user_id: str) -> str:
        channel = self._dm_channels.get(user_id)
        if channel is None:
            response = await client.conversations_open(users=user_id)
            channel = str(response["channel"]["id"])
            self._dm_channels[user_id] = channel
        return channel

    async def post(
        self,
        client: AsyncWebClient,
        channel: str,
        reply: Reply,
        lang: Lang,
        *,
        thread_ts: str | None = None,
    ) -> str:
        delivery = current_delivery()
        if delivery is not None and (ts := delivery.already_posted()) is not None:
            return ts  # posted by an earlier handling of the same inbox row
        response = await client.chat_postMessage(
            channel=channel,
            text=blocks.fallback_text(reply.text),
            blocks=blocks.reply_blocks(reply, lang),
            thread_ts=thread_ts,
            unfurl_links=False,
            unfurl_media=False,
        )
        ts = str(response.get("ts") or "")
        if delivery is not None:
            await delivery.posted(ts)
        return ts

    async def send_dm(self, client: AsyncWebClient, user_id: str, reply: Reply, lang: Lang) -> str:
        """Post ``reply`` into the user's DM with the bot (the only place links go)."""
        return await self.post(client, await self.dm_channel(client, user_id), reply, lang)

    async def is_staff(self, client: AsyncWebClient, user_id: str) -> bool:
        return await self.staff.is_staff(client, user_id)

    async def audit(self, user_id: str, action: str, **facts: Unpack[AuditFacts]) -> None:
        await self.ra.audit(actor=actor(user_id), action=action, **facts)

    # -- questions -----------------------------------------------------------------------

    async def answer(self, text: str, lang: Lang) -> Reply:
        return await self.questions.answer(text, lang)

    def suggestion(self, entry_id: str, lang: Lang) -> Reply:
        return self.questions.suggestion(entry_id, lang)

    async def feedback(self, user_id: str, *, helpful: bool, value: str, lang: Lang) -> Reply:
        await self.audit(
            user_id,
            "faq.feedback",
            target=value[:128] if helpful else None,
            detail={"helpful": helpful},
        )
        return await self.questions.feedback(helpful=helpful, value=value, lang=lang)

    # -- download ------------------------------------------------------------------------

    async def download(self, user_id: str, lang: Lang) -> Reply:
        pending = await self.queries.pending_enrollments_of(user_id)
        has_certificates = bool(await self.queries.certificates_of(user_id))
        decision = dialog.download(
            pending, user=user_id, has_certificates=has_certificates, lang=lang
        )
        return await self._link_or_reply(user_id, decision, lang)

    async def download_enrollment(self, user_id: str, reference: str, lang: Lang) -> Reply:
        enrollment = await self.queries.enrollment(reference)
        decision = dialog.download_enrollment(enrollment, user=user_id, lang=lang)
        if enrollment is not None and enrollment.slack_user != user_id:
            await self.audit(
                user_id,
                "link.create",
                target=enrollment.reference_number,
                outcome="refused",
                detail={"reason": "not the holder"},
            )
        return await self._link_or_reply(user_id, decision, lang)

    async def _link_or_reply(self, user_id: str, decision: Reply | GiveLink, lang: Lang) -> Reply:
        if isinstance(decision, Reply):
            return decision
        link = await refused_as_reply(
            self.ra.new_enrollment_link(decision.reference_number, actor=actor(user_id)),
            lang,
        )
        if isinstance(link, Reply):
            return link
        return dialog.download_link(
            reference=decision.reference_number, url=link.url, expires_at=link.expires_at, lang=lang
        )

    # -- renewal -------------------------------------------------------------------------

    async def renew(self, user_id: str, lang: Lang) -> Reply:
        certificates = await self.queries.certificates_of(user_id)
        decision = dialog.renew(certificates, now=utcnow(), lang=lang)
        if isinstance(decision, Reply):
            return decision
        return await self.renew_certificate(user_id, decision.serial, lang)

    async def renew_certificate(self, user_id: str, serial: str, lang: Lang) -> Reply:
        certificate = await self.queries.certificate(serial)
        decision = dialog.renew_certificate(certificate, user=user_id, now=utcnow(), lang=lang)
        if isinstance(decision, Reply):
            return decision
        assert certificate is not None
        renewal = await refused_as_reply(
            self.renewal.create_renewal_link(certificate.serial, actor=actor(user_id)), lang
        )
        if isinstance(renewal, Reply):
            return renewal
        return dialog.renewal_link(
            certificate,
            url=renewal.link.url,
            expires_at=renewal.link.expires_at,
            verification_code=renewal.verification_code,
            lang=lang,
        )

    # -- status --------------------------------------------------------------------------

    async def my_certificates(self, user_id: str, lang: Lang) -> Reply:
        certificates = await self.queries.certificates_of(user_id)
        pending = await self.queries.pending_enrollments_of(user_id)
        return dialog.my_certificates(certificates, pending, now=utcnow(), lang=lang)

    async def reply_to_click(self, user_id: str, act: Act, value: str, lang: Lang) -> Reply:
        """Menu buttons (download, renew, my certificates, help) and their follow-ups."""
        if act is Act.DOWNLOAD:
            return await self.download(user_id, lang)
        if act is Act.DOWNLOAD_ENROLLMENT:
            return await self.download_enrollment(user_id, value, lang)
        if act is Act.RENEW:
            return await self.renew(user_id, lang)
        if act is Act.RENEW_CERTIFICATE:
            return await self.renew_certificate(user_id, value, lang)
        if act is Act.MY_CERTIFICATES:
            return await self.my_certificates(user_id, lang)
        return dialog.welcome(lang)

    # -- escalation ----------------------------------------------------------------------

    async def escalate(
        self, client: AsyncWebClient, user_id: str, question: str, lang: Lang
    ) -> Reply:
        ra_channel = self.settings.ra_channel
        if not ra_channel:
            return Reply(messages.text("escalation.unavailable", lang))
        user_channel = await self.dm_channel(client, user_id)
        escalation = await self.escalations.start(
            user_id=user_id,
            user_channel=user_channel,
            ra_channel=ra_channel,
            question=question,
            lang=lang,
        )
        if escalation is None:
            return Reply(messages.text("escalation.already_open", lang))
        text = messages.escalation_ra_post(user=user_id, question=blocks.inert(question))
        try:
            response = await client.chat_postMessage(
                channel=ra_channel,
                text=blocks.fallback_text(text),
                blocks=[
                    *blocks.section(text),
                    *blocks.actions(
                        [
                            Button(
                                Act.RESOLVED,
                                messages.text("label.resolved", "en")
                                + " / "
                                + messages.text("label.resolved", "zh"),
                                str(escalation.id),
                                style="primary",
                            )
                        ],
                        "en",
                    ),
                ],
                unfurl_links=False,
                link_names=False,
            )
        except SlackApiError as exc:
            await self.escalations.abandon(escalation.id)
            log.error(
                "cannot post the escalation to the RA channel",
                extra={"channel": ra_channel, "error": slack_error_code(exc)},
            )
            return Reply(messages.text("escalation.failed", lang))
        await self.escalations.attach_thread(escalation.id, thread_ts=str(response["ts"]))
        await self.audit(user_id, "escalation.open", target=str(escalation.id))
        return Reply(messages.text("escalation.started", lang))

    async def relay_to_staff(
        self, client: AsyncWebClient, escalation: EscalationPublic, text: str
    ) -> None:
        try:
            await client.chat_postMessage(
                channel=escalation.ra_channel,
                thread_ts=escalation.thread_ts,
                text=messages.escalation_relay_to_thread(
                    user=escalation.user_id, text=blocks.inert(text)
                ),
                unfurl_links=False,
                link_names=False,
            )
        except SlackApiError as exc:
            log.error(
                "cannot relay to the escalation thread", extra={"error": slack_error_code(exc)}
            )
            await self.tell_holder(client, escalation, "escalation.relay_failed")

    async def relay_to_user(
        self, client: AsyncWebClient, escalation: EscalationPublic, staff_user: str, text: str
    ) -> None:
        await self.tell_holder(
            client, escalation, "escalation.relay_to_user", staff_user=staff_user, text=text
        )

    async def tell_holder(
        self, client: AsyncWebClient, escalation: EscalationPublic, key: str, **fields: object
    ) -> None:
        """Post the catalogue's ``key`` to the escalation's holder, in the holder's language."""
        lang: Lang = "zh" if escalation.lang == "zh" else "en"
        reply = Reply(messages.text(key, lang, **fields))
        await self.post(client, escalation.user_channel, reply, lang)

    async def resolve(
        self,
        client: AsyncWebClient,
        escalation_id: int,
        staff_user: str,
        *,
        message_ts: str | None,
    ) -> None:
        escalation = await self.escalations.resolve(escalation_id, by=staff_user)
        if escalation is None:
            return  # someone pressed it first
        await self.audit(staff_user, "escalation.resolve", target=str(escalation_id))
        await self.tell_holder(client, escalation, "escalation.resolved_user")
        resolved = messages.escalation_resolved_thread(staff_user=staff_user)
        original = messages.escalation_ra_post(
            user=escalation.user_id, question=blocks.inert(escalation.question)
        )
        if message_ts:
            await client.chat_update(
                channel=escalation.ra_channel,
                ts=message_ts,
                text=blocks.fallback_text(f"{original}\n{resolved}"),
                blocks=[
                    *blocks.section(original),
                    *blocks.section(f":white_check_mark: {resolved}"),
                ],
            )
        await client.chat_postMessage(
            channel=escalation.ra_channel, thread_ts=escalation.thread_ts, text=resolved
        )

    # -- certificate files ---------------------------------------------------------------

    async def inspect_file(self, client: AsyncWebClient, file: dict[str, Any], lang: Lang) -> Reply:
        name = str(file.get("name") or file.get("title") or "file")
        if self.read_certificate_file is None:
            return Reply(messages.text("inspector_unavailable", lang))
        try:
            info = (await client.files_info(file=str(file["id"])))["file"]
        except (SlackApiError, KeyError) as exc:
            log.warning("files.info failed", extra={"error": str(exc)})
            return Reply(messages.text("file.unreadable", lang, name=name))
        if int(info.get("size") or 0) > MAX_FILE_BYTES:
            return Reply(messages.text("file.too_large", lang, name=name))
        url = str(info.get("url_private_download") or info.get("url_private") or "")
        try:
            data = await self._download(url)
        except RequestTooLarge:
            return Reply(messages.text("file.too_large", lang, name=name))
        if data is None:
            return Reply(messages.text("file.unreadable", lang, name=name))
        findings = await asyncio.to_thread(self.read_certificate_file, data)  # PKCS#12 KDFs
        return dialog.file_reply(name, findings, lang)

    def _file_host_allowed(self, url: str) -> bool:
        """The bot token is sent only to Slack's file host (or the configured Web API host)."""
        parts = urlsplit(url)
        allowed = set(SLACK_FILE_HOSTS)
        if self.settings.slack_api_url:
            allowed.add(urlsplit(self.settings.slack_api_url).netloc)
            return parts.netloc in allowed and parts.scheme in ("http", "https")
        return parts.netloc in allowed and parts.scheme == "https"

    async def _download(self, url: str) -> bytes | None:
        """The file, or None when it cannot be fetched; RequestTooLarge past the limit."""
        token = self.settings.slack_bot_token
        if not url or token is None or not self._file_host_allowed(url):
            log.warning("refusing to fetch a file from an unexpected host")
            return None
        headers = {"Authorization": f"Bearer {token.get_secret_value()}"}
        try:
            async with self.http.get(
                url,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=20),
                allow_redirects=False,  # the bot token goes to Slack's file host, nowhere else
            ) as response:
                if response.status != 200:
                    log.warning("file download failed", extra={"status": response.status})
                    return None
                return await read_body(
                    response.content, limit=MAX_FILE_BYTES, declared=response.content_length
                )
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("file download failed", extra={"error": str(exc)})
            return None

    # -- App Home ------------------------------------------------------------------------

    async def publish_home(self, client: AsyncWebClient, user_id: str) -> None:
        lang = await self.language(client, user_id)
        certificates = await self.queries.certificates_of(user_id)
        pending = await self.queries.pending_enrollments_of(user_id)
        overview = None
        if await self.is_staff(client, user_id):
            overview = blocks.StaffOverview(
                pending=await self.queries.pending_enrollments(),
                locked=await self.queries.locked_enrollments(),
                escalations=await self.escalations.open_escalations(),
                unanswered=await asyncio.to_thread(  # asks the knowledge base once a group
                    group_questions,
                    await self.unanswered.waiting(limit=HOME_UNANSWERED_ROWS),
                    self.questions.knowledge,
                ),
            )
        view = blocks.home_view(
            certificates=certificates, pending=pending, staff=overview, now=utcnow(), lang=lang
        )
        await client.views_publish(user_id=user_id, view=view)

    # -- issuance ------------------------------------------------------------------------

    async def issue(
        self,
        client: AsyncWebClient,
        staff_user: str,
        args: IssueArgs,
        *,
        lang: Lang,
    ) -> str:
        """Create the enrollment ``args`` ask for and DM its holder; returns the staff's text."""
        holder = args.user
        known = await self.user(client, holder)
        if known is None or known.is_bot or known.deleted:
            reason = "user_not_found" if known is None else "cannot_dm_bot"
            if known is not None and known.deleted:
                reason = "user_disabled"
            return messages.text("ra.invalid", lang, problem=messages.slack_error(lang, reason))
        try:
            request = enrollment_request(args)
        except ValidationError as exc:
            return messages.text("ra.invalid", lang, problem=validation_problems(exc))
        created = await self.ra.create_enrollment(request, actor=actor(staff_user))
        out_of_band = self.settings.code_delivery == "out-of-band"
        text = messages.issued_dm(
            known.lang,
            cn=request.cn,
            reference=created.reference_number,
            authorization_code=None if out_of_band else created.authorization_code,
            url=created.link.url,
            expires_at=created.link.expires_at,
            staff_user=staff_user,
        )
        try:
            await self.send_dm(
                client, holder, Reply(text, (dialog.talk_to_ra_button(known.lang),)), known.lang
            )
        except SlackApiError as exc:
            log.error(
                "cannot DM the new holder",
                extra={"user": holder, "error": slack_error_code(exc)},
            )
            failed = messages.text(
                "ra.dm_failed",
                lang,
                user=holder,
                reason=messages.slack_error(lang, slack_error_code(exc)),
            )
            done = messages.ra_issue_done(
                lang,
                reference=created.reference_number,
                user=holder,
                out_of_band_code=created.authorization_code,
                dm_sent=False,
            )
            return f"{done}\n{failed}"
        return messages.ra_issue_done(
            lang,
            reference=created.reference_number,
            user=holder,
            out_of_band_code=created.authorization_code if out_of_band else None,
            dm_sent=True,
        )
