"""A tiny fake of Slack's Web API: real HTTP on 127.0.0.1, records every call.

Point ``SLACK_API_URL`` (or ``AsyncWebClient(base_url=…)``) at ``FakeSlack.api_url``. Knobs:

* ``errors[channel] = "user_not_found"``: chat.postMessage to that channel answers ``ok: false``;
* ``rate_limit_next = n``: the next n calls answer HTTP 429 with ``Retry-After: 1``;
* ``server_error_next = n``: the next n calls answer HTTP 500;
* ``gate_tokens = n``: chat.postMessage calls wait until calls with n different bot tokens are
  in flight together, which proves that n separate clients (processes) ran at the same time.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

GATE_TIMEOUT = 20.0


@dataclass(frozen=True)
class Call:
    method: str
    token: str | None
    params: dict[str, Any]


@dataclass
class FakeSlack:
    errors: dict[str, str] = field(default_factory=dict)
    rate_limit_next: int = 0
    server_error_next: int = 0
    gate_tokens: int = 0
    calls: list[Call] = field(default_factory=list)
    """Every request, including refused ones."""
    messages: list[Call] = field(default_factory=list)
    """chat.postMessage calls that were accepted."""
    url: str = ""
    _gate_seen: set[str] = field(default_factory=set)
    _gate_open: asyncio.Event = field(default_factory=asyncio.Event)
    _ts: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    def application(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/api/{method}", self._handle)
        return app

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else None
        if request.content_type == "application/json":
            params: dict[str, Any] = await request.json()
        else:
            params = dict(await request.post())
        call = Call(method=method, token=token, params=params)
        self.calls.append(call)
        if self.rate_limit_next > 0:
            self.rate_limit_next -= 1
            return web.json_response(
                {"ok": False, "error": "ratelimited"}, status=429, headers={"Retry-After": "1"}
            )
        if self.server_error_next > 0:
            self.server_error_next -= 1
            return web.Response(status=500, text="internal error")
        if token is None:
            return web.json_response({"ok": False, "error": "not_authed"})
        if method != "chat.postMessage":
            return web.json_response({"ok": False, "error": "unknown_method"})
        channel = str(params.get("channel", ""))
        if channel in self.errors:
            return web.json_response({"ok": False, "error": self.errors[channel]})
        if not await self._pass_gate(token):
            return web.json_response({"ok": False, "error": "fake_gate_timeout"})
        self.messages.append(call)
        async with self._changed:
            self._changed.notify_all()
        ts = f"1700000000.{next(self._ts):06d}"
        return web.json_response(
            {"ok": True, "channel": f"D{channel}", "ts": ts, "message": {"text": params["text"]}}
        )

    async def _pass_gate(self, token: str) -> bool:
        if self.gate_tokens <= 1 or self._gate_open.is_set():
            return True
        self._gate_seen.add(token)
        if len(self._gate_seen) >= self.gate_tokens:
            self._gate_open.set()
            return True
        try:
            await asyncio.wait_for(self._gate_open.wait(), GATE_TIMEOUT)
        except TimeoutError:
            return False
        return True

    async def wait_messages(self, count: int) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: len(self.messages) >= count)

    def texts_to(self, channel: str) -> list[str]:
        return [str(m.params["text"]) for m in self.messages if m.params.get("channel") == channel]


async def start_fake_slack(
    aiohttp_server: Callable[..., Coroutine[Any, Any, TestServer]],
) -> FakeSlack:
    """Start a FakeSlack on a free 127.0.0.1 port with pytest-aiohttp's ``aiohttp_server``."""
    fake = FakeSlack()
    server = await aiohttp_server(fake.application(), host="127.0.0.1")
    fake.url = str(server.make_url("")).rstrip("/")
    return fake
