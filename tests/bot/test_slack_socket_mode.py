"""Socket Mode (SLACK_APP_TOKEN set): events arrive over a WebSocket, are acknowledged by
envelope ID, deduplicated like HTTP deliveries, and answered through the Web API."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import SecretStr

from bot.settings import Settings
from tests.bot.conftest import HOLDER, start_harness
from tests.support.fake_slack import FakeSlack, dm, event_callback


async def test_socket_mode_event_is_acked_and_answered_once(
    slack_settings: Settings, fake_slack: FakeSlack, aiohttp_server: Callable[..., Any]
) -> None:
    settings = slack_settings.model_copy(
        update={"slack_app_token": SecretStr("xapp-test"), "slack_signing_secret": None}
    )
    slack = await start_harness(settings, fake_slack, aiohttp_server)
    await fake_slack.socket_connected()
    assert fake_slack.calls("apps.connections.open")[0].headers["authorization"] == (
        "Bearer xapp-test"
    )
    payload = event_callback(dm(HOLDER, "how do I find the CN of my certificate"), event_id="EvS1")
    for envelope in ("env-1", "env-2"):  # the second is Slack's redelivery of the same event
        fake_slack.socket_send(
            {
                "envelope_id": envelope,
                "type": "events_api",
                "accepts_response_payload": False,
                "retry_attempt": 0 if envelope == "env-1" else 1,
                "payload": payload,
            }
        )
    acks = await fake_slack.socket_acks(2)
    assert sorted(m["envelope_id"] for m in acks) == ["env-1", "env-2"]
    await slack.idle()
    [answer] = fake_slack.messages_to(f"D{HOLDER}")
    assert "Open the certificate's Subject." in answer.text


async def test_socket_mode_without_signing_secret_has_no_http_endpoint(
    slack_settings: Settings, fake_slack: FakeSlack, aiohttp_server: Callable[..., Any]
) -> None:
    settings = slack_settings.model_copy(
        update={"slack_app_token": SecretStr("xapp-test"), "slack_signing_secret": None}
    )
    slack = await start_harness(settings, fake_slack, aiohttp_server)
    status, _ = await slack.send.event(dm(HOLDER, "hi"))
    assert status in (404, 405)
