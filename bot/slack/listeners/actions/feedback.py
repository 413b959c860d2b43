"""Helpful / not helpful on a knowledge answer, and picking a "did you mean" suggestion."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.web.async_client import AsyncWebClient

from bot.dialog import Act
from bot.slack.blocks import action_pattern
from bot.slack.desk import Desk
from bot.slack.listeners.actions import Click


async def feedback(desk: Desk, client: AsyncWebClient, click: Click, *, helpful: bool) -> None:
    lang = await desk.language(client, click.user, block_id=click.block_id)
    reply = await desk.feedback(click.user, helpful=helpful, value=click.value, lang=lang)
    await desk.send_dm(client, click.user, reply, lang)


async def suggestion(desk: Desk, client: AsyncWebClient, click: Click) -> None:
    lang = await desk.language(client, click.user, block_id=click.block_id)
    await desk.send_dm(client, click.user, desk.suggestion(click.value, lang), lang)


def register(app: AsyncApp, desk: Desk) -> None:
    @app.action(action_pattern(Act.HELPFUL))
    async def helpful(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        desk.later(feedback(desk, client, Click.of(body), helpful=True), name="helpful")

    @app.action(action_pattern(Act.NOT_HELPFUL))
    async def not_helpful(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        desk.later(feedback(desk, client, Click.of(body), helpful=False), name="not-helpful")

    @app.action(action_pattern(Act.SUGGESTION))
    async def picked(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        desk.later(suggestion(desk, client, Click.of(body)), name="suggestion")
