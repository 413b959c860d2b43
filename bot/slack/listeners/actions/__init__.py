"""Button clicks. Each is acknowledged at once; the answer goes to the clicking user's DM."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.slack import blocks


@dataclass(frozen=True, slots=True)
class Click:
    user: str
    value: str
    block_id: str | None
    channel: str | None
    message_ts: str | None

    @classmethod
    def of(cls, body: dict[str, Any]) -> Click:
        action = (body.get("actions") or [{}])[0]
        return cls(
            user=body["user"]["id"],
            value=blocks.button_value(str(action.get("value") or "")),
            block_id=action.get("block_id"),
            channel=(body.get("channel") or {}).get("id"),
            message_ts=(body.get("message") or {}).get("ts"),
        )
