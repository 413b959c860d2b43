"""Talk to RA staff (opens an escalation) and Resolved (closes it; RA staff only)."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot import messages
from bot.dialog import Act
from bot.slack.blocks import action_pattern
from bot.slack.desk import Desk
from bot.slack.listeners.actions import Click


async def talk(desk: Desk, client: AsyncWebClient, click: Click) -> None:
    lang = await desk.language(client, click.user, block_id=click.block_id)
    reply = await desk.escalate(client, click.user, click.value, lang)
    await desk.send_dm(client, click.user, reply, lang)


async def resolved(desk: Desk, client: AsyncWebClient, click: Click, respond: AsyncRespond) -> None:
    if not await desk.is_staff(client, click.user):
        await desk.audit(
            click.user,
            "escalation.resolve",
            target=click.value[:128],
            outcome="refused",
            detail={"reason": "not RA staff"},
        )
        lang = await desk.language(client, click.user)
        await respond(
            text=messages.text("ra.refused", lang),
            response_type="ephemeral",
            replace_original=False,
        )
        return
    if not click.value.isdigit():
        return
    await desk.resolve(client, int(click.value), click.user, message_ts=click.message_ts)


def register(app: AsyncApp, desk: Desk) -> None:
    @app.action(action_pattern(Act.TALK_TO_RA))
    async def talk_to_ra(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        desk.later(talk(desk, client, Click.of(body)), name="talk-to-ra")

    @app.action(action_pattern(Act.RESOLVED))
    async def resolve(
        ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, respond: AsyncRespond
    ) -> None:
        await ack()
        desk.later(resolved(desk, client, Click.of(body), respond), name="resolved")
