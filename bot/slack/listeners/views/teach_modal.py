"""Teaching from App Home (RA staff): "Teach…" beside an unanswered question opens a modal to
choose the entry that should answer it; submitting adds the question to that entry in the RA's
knowledge directory (:mod:`bot.teaching`, as ``certdesk faq teach`` does), DMs the outcome and
refreshes App Home. Every teach, and every refused one, is audited."""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import messages
from bot.dialog import Act, Reply
from bot.slack import blocks
from bot.slack.desk import Desk, actor
from bot.slack.listeners.actions import Click
from bot.teaching import teach
from common.errors import CertdeskError
from common.language import Lang

log = logging.getLogger(__name__)


async def refuse(desk: Desk, client: AsyncWebClient, user: str, target: str) -> None:
    await desk.audit(
        user, "faq.teach", target=target[:128], outcome="refused", detail={"reason": "not RA staff"}
    )
    lang = await desk.language(client, user)
    await desk.send_dm(client, user, Reply(messages.text("ra.refused", lang)), lang)


async def open_modal(desk: Desk, client: AsyncWebClient, click: Click, trigger_id: str) -> None:
    if not await desk.is_staff(client, click.user):
        await refuse(desk, client, click.user, click.value)
        return
    lang = await desk.language(client, click.user, block_id=click.block_id)
    row = await desk.unanswered.get(int(click.value)) if click.value.isdigit() else None
    if row is None or row.reviewed:
        await desk.send_dm(client, click.user, Reply(messages.text("teach.gone", lang)), lang)
        return
    knowledge = desk.questions.knowledge
    entries = (
        sorted((entry.id, entry.title(lang)) for entry in knowledge.entries.values())
        if knowledge is not None
        else []
    )
    view = blocks.teach_modal(
        lang,
        question=row.question,
        entries=entries,
        initial=row.best_id,
        private_metadata=json.dumps({"question": row.question, "lang": row.language}),
    )
    try:
        await client.views_open(trigger_id=trigger_id, view=view)
    except SlackApiError as exc:  # an expired trigger: the click was too long ago
        log.warning("teach modal not opened", extra={"error": str(exc.response.get("error"))})


async def submit(
    desk: Desk, client: AsyncWebClient, user: str, entry_id: str, metadata: str
) -> None:
    try:
        facts = json.loads(metadata)
        question, asked_in = str(facts["question"]), str(facts.get("lang") or "")
    except (ValueError, KeyError, TypeError):
        return
    if not await desk.is_staff(client, user):
        await refuse(desk, client, user, entry_id)
        return
    lang = await desk.language(client, user)
    try:
        taught = await teach(
            desk.settings,
            unanswered=desk.unanswered,
            auditor=desk.ra,
            entry_id=entry_id,
            question=question,
            actor=actor(user),
            language=_lang(asked_in),
        )
    except CertdeskError as exc:
        await desk.send_dm(client, user, Reply(exc.message), lang)
        return
    refresh = getattr(desk.questions.knowledge, "refresh", None)
    if refresh is not None:
        await refresh(force=True)  # this process answers with it at once
    text = messages.taught(
        lang, question=taught.question, entry_id=taught.entry_id, answered_by=taught.answered_by
    )
    await desk.send_dm(client, user, Reply(text), lang)
    await desk.publish_home(client, user)


def _lang(value: str) -> Lang | None:
    return "zh" if value == "zh" else "en" if value == "en" else None


def register(app: AsyncApp, desk: Desk) -> None:
    @app.action(blocks.action_pattern(Act.TEACH))
    async def teach_clicked(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        desk.later(
            open_modal(desk, client, Click.of(body), str(body.get("trigger_id") or "")),
            name="teach-modal",
        )

    @app.view(blocks.TEACH_CALLBACK)
    async def teach_submitted(
        ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient
    ) -> None:
        entry_id = blocks.teach_modal_entry(view)
        if not entry_id:
            await ack(response_action="errors", errors={"entry": "Choose an entry / 请选择条目"})
            return
        await ack()
        desk.later(
            submit(desk, client, body["user"]["id"], entry_id, str(view.get("private_metadata"))),
            name="teach",
        )
