"""Operator-only views: /metrics behind CERTDESK_METRICS_TOKEN / CERTDESK_METRICS_ALLOW
(finding 11), and the local outbox at /chat/reminders for the machine itself or
CERTDESK_OPERATOR_TOKEN only, never the anonymous page (finding 6)."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import RUNTIME, create_app
from bot.outbox import LocalOutbox
from bot.settings import Settings

Client = TestClient[Any, Any]
TOKEN = "operator-token-0123456789abcdef"


def outside_address() -> str | None:
    """This machine's address on a network (not loopback), if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.200", 9))  # no packet is sent
        except OSError:
            return None
        address: str = probe.getsockname()[0]
    return None if address.startswith("127.") else address


@pytest.fixture(autouse=True)
def _schema(migrated: Settings) -> None:
    """PostgreSQL is migrated first (embedded SQLite migrates itself)."""


async def client_for(
    aiohttp_client: Callable[..., Any], settings: Settings, **server: Any
) -> Client:
    client: Client = await aiohttp_client(TestServer(create_app(settings), **server))
    return client


async def test_metrics_open_when_unrestricted(
    settings_factory: Callable[..., Settings], aiohttp_client: Callable[..., Any]
) -> None:
    client = await client_for(aiohttp_client, settings_factory())
    response = await client.get("/metrics")
    assert response.status == 200
    assert "python_info" in await response.text() or "certdesk" in await response.text()


async def test_metrics_need_the_bearer_token(
    settings_factory: Callable[..., Settings], aiohttp_client: Callable[..., Any]
) -> None:
    client = await client_for(aiohttp_client, settings_factory(metrics_token=TOKEN))
    for headers in (
        {},
        {"Authorization": "Bearer wrong-token-000000000"},
        {"Authorization": TOKEN},
    ):
        response = await client.get("/metrics", headers=headers)
        assert response.status == 401
        error = (await response.json())["error"]
        assert error["code"] == "metrics_unauthorized"
        assert "CERTDESK_METRICS_TOKEN" in error["message"]
        assert TOKEN not in await response.text()
    response = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status == 200
    assert response.content_type == "text/plain"


async def test_metrics_only_to_allowed_networks(
    settings_factory: Callable[..., Settings], aiohttp_client: Callable[..., Any]
) -> None:
    elsewhere = await client_for(aiohttp_client, settings_factory(metrics_allow="10.0.0.0/8"))
    response = await elsewhere.get("/metrics")
    assert response.status == 403
    assert "CERTDESK_METRICS_ALLOW" in (await response.json())["error"]["message"]
    here = await client_for(aiohttp_client, settings_factory(metrics_allow="10.0.0.0/8,127.0.0.1"))
    assert (await here.get("/metrics")).status == 200


@pytest.fixture
async def outbox_client(
    settings_factory: Callable[..., Settings], aiohttp_client: Callable[..., Any]
) -> Client:
    client = await client_for(aiohttp_client, settings_factory(operator_token=TOKEN))
    outbox = LocalOutbox(engine=client.app[RUNTIME].engine)
    await outbox.add(recipient=None, certificate_serial="ab12", kind="30d", text="CN=Alice expires")
    return client


async def test_outbox_is_shown_on_the_machine_itself(outbox_client: Client) -> None:
    response = await outbox_client.get("/chat/reminders")
    assert response.status == 200
    [reminder] = (await response.json())["reminders"]
    assert reminder["certificate_serial"] == "ab12"


async def test_outbox_is_refused_through_a_proxy_without_the_token(outbox_client: Client) -> None:
    """A request relayed by a proxy on the same machine is not the operator's."""
    response = await outbox_client.get(
        "/chat/reminders", headers={"X-Forwarded-For": "198.51.100.7"}
    )
    assert response.status == 401
    body = await response.text()
    assert "ab12" not in body
    assert "Alice" not in body
    assert (await response.json())["error"]["code"] == "operator_only"
    response = await outbox_client.get(
        "/chat/reminders",
        headers={"X-Forwarded-For": "198.51.100.7", "Authorization": f"Bearer {TOKEN}"},
    )
    assert response.status == 200


async def test_outbox_is_refused_from_another_machine(
    settings_factory: Callable[..., Settings], aiohttp_client: Callable[..., Any]
) -> None:
    """Over a real socket from the machine's network address: refused, the token opens it."""
    address = outside_address()
    if address is None:
        pytest.skip("this machine has no network address besides loopback")
    client = await client_for(aiohttp_client, settings_factory(), host=address)
    outbox = LocalOutbox(engine=client.app[RUNTIME].engine)
    await outbox.add(recipient=None, certificate_serial="cd34", kind="7d", text="CN=Bob expires")
    async with aiohttp.ClientSession() as session:
        url = f"http://{address}:{client.port}/chat/reminders"
        async with session.get(url) as response:
            assert response.status == 403
            assert "cd34" not in await response.text()


async def test_anonymous_page_does_not_link_the_outbox(outbox_client: Client) -> None:
    for path in ("/", "/chat/static/chat.js"):
        assert "reminders" not in await (await outbox_client.get(path)).text()
