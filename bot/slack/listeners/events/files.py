"""A certificate file shared in a DM: read with the inspector, answered with CN, OUs and O in
copyable form (and a warning when the file holds a private key)."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.desk import Desk
from bot.slack.listeners.events import from_bot
from bot.slack.listeners.events.direct_messages import thread_reply

MAX_FILES = 3


async def shared_files(desk: Desk, client: AsyncWebClient, event: dict[str, Any]) -> None:
    user = event["user"]
    lang = await desk.language(client, user, text=event.get("text"))
    for file in (event.get("files") or [])[:MAX_FILES]:
        reply = await desk.inspect_file(client, file, lang)
        await desk.post(client, event["channel"], reply, lang)


def register(app: AsyncApp, desk: Desk) -> None:
    @app.event({"type": "message", "subtype": "file_share"})
    async def file_share(event: dict[str, Any], client: AsyncWebClient) -> None:
        if from_bot(event):
            return
        if event.get("channel_type") == "im":
            await shared_files(desk, client, event)
        elif event.get("thread_ts") and event.get("channel") == desk.settings.ra_channel:
            await thread_reply(desk, client, event)
