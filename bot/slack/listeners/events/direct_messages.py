"""Plain messages: a user's DM is answered (or relayed to RA staff while an escalation is
open); a staff reply in an escalation thread in the RA channel is relayed to the user."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot import dialog
from bot.slack.desk import Desk
from bot.slack.listeners.events import from_bot


async def direct_message(desk: Desk, client: AsyncWebClient, event: dict[str, Any]) -> None:
    user, text = event["user"], event.get("text") or ""
    escalation = await desk.escalations.open_for_user(user)
    if escalation is not None and escalation.thread_ts:
        await desk.relay_to_staff(client, escalation, text)
        return
    if not text.strip():
        return
    lang = await desk.language(client, user, text=text)
    act = dialog.menu_word(text)
    if act is not None:
        reply = await desk.reply_to_click(user, act, "", lang)
    else:
        reply = await desk.answer(text, lang)
    await desk.post(client, event["channel"], reply, lang)


async def thread_reply(desk: Desk, client: AsyncWebClient, event: dict[str, Any]) -> None:
    escalation = await desk.escalations.by_thread(
        ra_channel=event["channel"], thread_ts=event["thread_ts"]
    )
    if escalation is None or not escalation.is_open or event["user"] == escalation.user_id:
        return
    if not await desk.is_staff(client, event["user"]):
        return  # only RA staff speak for RA staff
    await desk.relay_to_user(client, escalation, event["user"], event.get("text") or "")


def register(app: AsyncApp, desk: Desk) -> None:
    @app.event({"type": "message", "subtype": None})
    async def message(event: dict[str, Any], client: AsyncWebClient) -> None:
        if from_bot(event):
            return
        if event.get("channel_type") == "im":
            await direct_message(desk, client, event)
            return
        thread_ts = event.get("thread_ts")
        if (
            thread_ts
            and thread_ts != event.get("ts")
            and event.get("channel") == desk.settings.ra_channel
        ):
            await thread_reply(desk, client, event)
