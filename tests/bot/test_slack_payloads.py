"""The shape check of signed Slack payloads: Slack's documented shapes pass, wrong types don't."""

from __future__ import annotations

from typing import Any

import pytest

from bot.slack.payloads import malformed
from tests.support.fake_slack import dm, event_callback


def test_documented_shapes_read_well() -> None:
    assert malformed(event_callback(dm("U2", "hi"), event_id="Ev1")) is None
    bot_message = {"type": "message", "subtype": "bot_message", "bot_id": "B1", "ts": "1.2"}
    assert malformed(event_callback(bot_message, event_id="Ev2")) is None
    assert malformed({"command": "/cert", "text": "help", "user_id": "U2"}) is None
    assert malformed({"type": "url_verification", "challenge": "c"}) is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "event_callback", "event": []}, "event"),
        (event_callback({"type": "app_home_opened"}, event_id="Ev3"), "event.user"),
        (event_callback({**dm("U2", "hi"), "user": ["U2"]}, event_id="Ev4"), "event.user"),
        (event_callback(dm("U2", "hi", files=["F1"]), event_id="Ev5"), "event.files"),
        ({"type": "block_actions", "user": {"id": 7}, "actions": []}, "user.id"),
        (
            {"type": "block_actions", "user": {"id": "U2"}, "actions": [{"value": 1}]},
            "actions[].value",
        ),
        (
            {"type": "view_submission", "user": {"id": "U2"}, "view": {"state": {"values": []}}},
            "view.state.values",
        ),
    ],
)
def test_wrong_types_are_named(body: dict[str, Any], field: str) -> None:
    assert malformed(body) == field
