"""Event listeners. An event reaches them after Slack already has its 200:
:func:`bot.slack.app.accept` acknowledges every event at once (over HTTP and Socket Mode) and
dispatches it in the background, so these listeners do their work inline (no ``desk.later``).
Messages from bots (our own, which bolt drops, and any other) are ignored."""

from __future__ import annotations

from typing import Any


def from_bot(event: dict[str, Any]) -> bool:
    return bool(
        event.get("bot_id")
        or event.get("bot_profile")
        or event.get("subtype") == "bot_message"
        or not event.get("user")
    )
