"""Event listeners. Bolt acknowledges events before a listener runs; the work goes to
``desk.later``. Messages from bots (our own, which bolt drops, and any other) are ignored."""

from __future__ import annotations

from typing import Any


def from_bot(event: dict[str, Any]) -> bool:
    return bool(
        event.get("bot_id")
        or event.get("bot_profile")
        or event.get("subtype") == "bot_message"
        or not event.get("user")
    )
