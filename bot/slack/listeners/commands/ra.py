"""``/ra`` for RA staff: issue, status, resend, unlock, revoke, stats.

The caller is checked against ``CERTDESK_RA_STAFF`` first; anyone else gets an ephemeral
refusal and the attempt is written to the audit table. Every action is audited (the enrollment
service audits what it changes; this module audits reads and refusals).
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import dialog, messages
from bot.dialog import Reply
from bot.ra_views import desk_stats, holder_status
from bot.slack import blocks
from bot.slack.desk import Desk, actor, slack_error_code
from bot.slack.listeners.commands import Answer, answered_privately
from bot.slack.syntax import (
    CommandSyntaxError,
    parse_issue,
    parse_revoke,
    parse_single_user,
    split_command,
    user_id,
)
from common.errors import CertdeskError
from common.language import Lang
from common.time import utcnow

SUBCOMMANDS = ("issue", "status", "resend", "unlock", "revoke", "stats", "help")


@dataclass(frozen=True, slots=True, kw_only=True)
class RaCall:
    """One ``/ra`` invocation by a staff member."""

    desk: Desk
    client: AsyncWebClient
    staff: str
    args: str
    lang: Lang
    trigger_id: str | None
    channel_id: str | None


Handler = Callable[[RaCall], Awaitable[str | None]]


async def issue(call: RaCall) -> str | None:
    if not call.args:
        await call.client.views_open(
            trigger_id=call.trigger_id or "",
            view=blocks.issue_modal(call.lang, private_metadata=call.channel_id or ""),
        )
        return None
    return await call.desk.issue(call.client, call.staff, parse_issue(call.args), lang=call.lang)


async def status(call: RaCall) -> str:
    desk, lang = call.desk, call.lang
    if not call.args:
        raise CommandSyntaxError("give a reference number or @user: /ra status REFERENCE|@user")
    holder = user_id(call.args)
    if holder is not None:
        await desk.audit(call.staff, "ra.status", target=holder)
        found = await holder_status(desk.queries, slack_user=holder)
        listing = dialog.my_certificates(found.certificates, found.pending, now=utcnow(), lang=lang)
        return f"{messages.text('ra.status_user_header', lang, user=holder)}\n{listing.text}"
    enrollment = await desk.queries.enrollment(call.args)
    await desk.audit(call.staff, "ra.status", target=call.args[:128])
    if enrollment is None:
        return messages.text("ra.not_found", lang, what=call.args)
    return messages.ra_status_enrollment(lang, enrollment)


async def resend(call: RaCall) -> str:
    desk, lang = call.desk, call.lang
    holder = parse_single_user(call.args)
    pending = [e for e in await desk.queries.pending_enrollments_of(holder) if not e.locked]
    if not pending:
        await desk.audit(call.staff, "ra.resend", target=holder, detail={"links": 0})
        return messages.text("ra.resend_nothing", lang, user=holder)
    known = await desk.user(call.client, holder)
    holder_lang: Lang = known.lang if known else "en"
    sent: list[str] = []
    for enrollment in pending:
        link = await desk.ra.new_enrollment_link(
            enrollment.reference_number, actor=actor(call.staff)
        )
        reply = dialog.download_link(
            reference=enrollment.reference_number,
            url=link.url,
            expires_at=link.expires_at,
            lang=holder_lang,
        )
        intro = messages.text("resend_dm_intro", holder_lang)
        try:
            await desk.send_dm(
                call.client, holder, Reply(f"{intro}\n{reply.text}", reply.buttons), holder_lang
            )
        except SlackApiError as exc:
            reason = messages.slack_error(lang, slack_error_code(exc))
            return messages.text("ra.dm_failed", lang, user=holder, reason=reason)
        sent.append(enrollment.reference_number)
    return messages.ra_resend_done(lang, user=holder, references=sent)


async def unlock(call: RaCall) -> str:
    desk, lang = call.desk, call.lang
    if not call.args:
        raise CommandSyntaxError("give the reference number: /ra unlock REFERENCE")
    before = await desk.queries.enrollment(call.args)
    if before is None:
        await desk.audit(call.staff, "enrollment.unlock", target=call.args[:128], outcome="error")
        return messages.text("ra.not_found", lang, what=call.args)
    await desk.ra.unlock(before.reference_number, actor=actor(call.staff))
    if before.locked and before.slack_user:
        known = await desk.user(call.client, before.slack_user)
        holder_lang: Lang = known.lang if known else "en"
        with contextlib.suppress(SlackApiError):  # the unlock worked; telling them is a courtesy
            await desk.send_dm(
                call.client,
                before.slack_user,
                Reply(messages.text("unlocked_dm", holder_lang, reference=before.reference_number)),
                holder_lang,
            )
    return messages.ra_unlock_done(lang, before.reference_number, was_locked=before.locked)


async def revoke(call: RaCall) -> str:
    desk, lang = call.desk, call.lang
    serial, reason = parse_revoke(call.args)
    revoked = await desk.revocation.revoke(serial, reason=reason, actor=actor(call.staff))
    owner = revoked.owner_slack_user
    if owner:
        known = await desk.user(call.client, owner)
        owner_lang: Lang = known.lang if known else "en"
        text = messages.text("revoked_dm", owner_lang, cn=revoked.subject_cn, serial=revoked.serial)
        with contextlib.suppress(SlackApiError):  # revoked either way; telling them is a courtesy
            reply = Reply(text, (dialog.talk_to_ra_button(owner_lang),))
            await desk.send_dm(call.client, owner, reply, owner_lang)
    return messages.text(
        "ra.revoke_done",
        lang,
        serial=revoked.serial,
        reason=str(revoked.revocation_reason or reason),
    )


async def stats(call: RaCall) -> str:
    desk = call.desk
    await desk.audit(call.staff, "ra.stats")
    found = await desk_stats(desk.queries, desk.escalations, desk.unanswered)
    numbers = found.numbers
    return messages.ra_stats(
        call.lang,
        pending=numbers.enrollments_pending,
        locked=numbers.enrollments_locked,
        issued=numbers.enrollments_issued,
        active=numbers.certificates_active,
        expiring=numbers.certificates_expiring,
        expiring_days=numbers.expiring_within.days,
        revoked=numbers.certificates_revoked,
        open_escalations=found.open_escalations,
        unanswered=found.unanswered,
        mail_failed=await desk.mail_failures() if desk.mail_failures else None,
    )


async def usage(call: RaCall) -> str:
    return messages.text("ra.usage", call.lang)


HANDLERS: dict[str, Handler] = {
    "issue": issue,
    "status": status,
    "resend": resend,
    "unlock": unlock,
    "revoke": revoke,
    "stats": stats,
    "help": usage,
    "": usage,
}


async def run(desk: Desk, client: AsyncWebClient, command: dict[str, Any]) -> str | None:
    """The staff check, then the subcommand; returns the caller's (ephemeral) answer."""
    staff = command["user_id"]
    word, args = split_command(command.get("text") or "")
    lang = await desk.language(client, staff)
    name = word if word in SUBCOMMANDS else "unknown"
    if not await desk.is_staff(client, staff):
        await desk.audit(staff, f"ra.{name}", outcome="refused", detail={"reason": "not RA staff"})
        return messages.text("ra.refused", lang)
    handler = HANDLERS.get(word)
    if handler is None:
        return messages.text("ra.usage", lang)
    call = RaCall(
        desk=desk,
        client=client,
        staff=staff,
        args=args,
        lang=lang,
        trigger_id=command.get("trigger_id"),
        channel_id=command.get("channel_id"),
    )
    try:
        return await handler(call)
    except CommandSyntaxError as exc:
        usage = messages.text("ra.usage", lang)
        return f"{messages.text('ra.invalid', lang, problem=str(exc))}\n\n{usage}"
    except CertdeskError as exc:
        return messages.text("ra.invalid", lang, problem=exc.message)
    except SlackApiError as exc:
        return messages.text(
            "ra.invalid", lang, problem=messages.slack_error(lang, slack_error_code(exc))
        )


def register(app: AsyncApp, desk: Desk) -> None:
    @app.command("/ra")
    @answered_privately(desk, name="ra")
    async def ra(client: AsyncWebClient, command: dict[str, Any]) -> Answer | None:
        text = await run(desk, client, command)
        return (text, blocks.section(text)) if text else None
