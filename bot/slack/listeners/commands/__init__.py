"""Slash commands, one per module; what they share is how they answer."""

from __future__ import annotations

from slack_bolt.context.respond.async_respond import AsyncRespond

from bot.slack import blocks


async def answer_privately(respond: AsyncRespond, text: str, body: list[blocks.Block]) -> None:
    """A command's answer, seen only by the caller, below their command (``text`` as fallback)."""
    await respond(
        text=blocks.fallback_text(text),
        blocks=body,
        response_type="ephemeral",
        replace_original=False,
    )
