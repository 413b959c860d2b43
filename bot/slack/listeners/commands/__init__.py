"""Slash commands, one per module; what they share is how they answer.

Slack wants the acknowledgement within three seconds, so a command acknowledges at once and
works in the background; its answer is ephemeral (only the caller sees it, and the caller is the
only person links are made for).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack import blocks
from bot.slack.desk import Desk

Answer = tuple[str, list[blocks.Block]]
"""The fallback text and the blocks of a command's answer."""

Answering = Callable[[AsyncWebClient, dict[str, Any]], Awaitable[Answer | None]]


Listener = Callable[[AsyncAck, dict[str, Any], AsyncWebClient, AsyncRespond], Awaitable[None]]


def answered_privately(desk: Desk, *, name: str) -> Callable[[Answering], Listener]:
    """Make ``answering`` a command listener: acknowledged at once, then its answer (if any)
    shown to the caller alone; ``name`` names the background task."""

    def listener_of(answering: Answering) -> Listener:
        async def listener(
            ack: AsyncAck, command: dict[str, Any], client: AsyncWebClient, respond: AsyncRespond
        ) -> None:
            await ack()

            async def work() -> None:
                answer = await answering(client, command)
                if answer is not None:
                    text, body = answer
                    await respond(
                        text=blocks.fallback_text(text),
                        blocks=body,
                        response_type="ephemeral",
                        replace_original=False,
                    )

            desk.later(work(), name=name)

        return listener

    return listener_of
