"""``@certdesk question`` in a channel: answered in a thread under the mention. Buttons on
that answer lead to the clicking user's DM, so links never land in a shared channel."""

from __future__ import annotations

import re
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.desk import Desk
from bot.slack.listeners.events import from_bot

_MENTION = re.compile(r"<@[UW][A-Z0-9]+(?:\|[^>]*)?>")


async def mention(desk: Desk, client: AsyncWebClient, event: dict[str, Any]) -> None:
    text = _MENTION.sub(" ", event.get("text") or "").strip()
    user = event["user"]
    lang = await desk.language(client, user, text=text)
    reply = await desk.answer(text, lang)
    await desk.post(
        client, event["channel"], reply, lang, thread_ts=event.get("thread_ts") or event["ts"]
    )


def register(app: AsyncApp, desk: Desk) -> None:
    @app.event("app_mention")
    async def app_mention(event: dict[str, Any], client: AsyncWebClient) -> None:
        if from_bot(event):
            return
        await mention(desk, client, event)
