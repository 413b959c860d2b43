"""Download my certificate, Renew, My certificates (and their per-item follow-ups)."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.web.async_client import AsyncWebClient

from bot.dialog import Act
from bot.slack.blocks import action_pattern
from bot.slack.desk import Desk
from bot.slack.listeners.actions import Click

MENU = (
    Act.HELP,
    Act.DOWNLOAD,
    Act.DOWNLOAD_ENROLLMENT,
    Act.RENEW,
    Act.RENEW_CERTIFICATE,
    Act.MY_CERTIFICATES,
)


async def answer_click(desk: Desk, client: AsyncWebClient, act: Act, click: Click) -> None:
    lang = await desk.language(client, click.user, block_id=click.block_id)
    reply = await desk.reply_to_click(click.user, act, click.value, lang)
    await desk.send_dm(client, click.user, reply, lang)


def register(app: AsyncApp, desk: Desk) -> None:
    for act in MENU:

        def listener(act: Act) -> Any:
            async def on_click(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
                await ack()
                desk.later(answer_click(desk, client, act, Click.of(body)), name=act.value)

            on_click.__name__ = f"on_{act.value}"
            return on_click

        app.action(action_pattern(act))(listener(act))
