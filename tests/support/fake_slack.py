"""Slack, faked at the edges: a Web API server that records calls, and a sender of signed
requests the way Slack delivers Events API callbacks, slash commands and interactions.

:class:`FakeSlack` is a real aiohttp HTTP server on 127.0.0.1 running in its own thread (so it
serves an in-process app and a ``certdesk serve`` subprocess alike). Point ``SLACK_API_URL`` at
``fake.api_url``. It answers the Web API methods certdesk uses, serves files for
``url_private_download``, takes ``response_url`` posts, offers a Socket Mode WebSocket, and can
be told to answer 429 with ``Retry-After``, to fail a method with a Slack error, or to be slow.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import math
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

BOT_USER = "UBOT"
BOT_ID = "BBOT"
TEAM = "T0001"
APP = "A0001"


@dataclass(frozen=True)
class Call:
    """One request the fake received: a Web API method, a response_url post, a file fetch."""

    method: str
    params: dict[str, Any]
    headers: dict[str, str]
    status: int
    at: float

    @property
    def text(self) -> str:
        return str(self.params.get("text") or "")

    def _nodes(self) -> Iterator[tuple[dict[str, Any], str | None]]:
        """Every dict in the call's blocks and view, with the block_id it sits under."""

        def walk(node: Any, block_id: str | None) -> Iterator[tuple[dict[str, Any], str | None]]:
            if isinstance(node, str) and node.startswith(("[", "{")):
                with suppress(ValueError):
                    yield from walk(json.loads(node), block_id)
            elif isinstance(node, dict):
                block_id = node.get("block_id", block_id)
                yield node, block_id
                for value in node.values():
                    yield from walk(value, block_id)
            elif isinstance(node, list):
                for item in node:
                    yield from walk(item, block_id)

        yield from walk(self.params.get("blocks"), None)
        yield from walk(self.params.get("view"), None)

    def blocks_text(self) -> str:
        """Every text in the call's blocks (and view), joined: what a person would read."""
        texts = [n["text"] for n, _ in self._nodes() if isinstance(n.get("text"), str)]
        return "\n".join([self.text, *texts])

    def action_ids(self) -> list[str]:
        return [str(n["action_id"]) for n, _ in self._nodes() if n.get("type") == "button"]

    def button(self, prefix: str) -> dict[str, Any]:
        """The first button whose action_id starts with ``prefix`` (with its block_id)."""
        for node, block_id in self._nodes():
            if node.get("type") == "button" and str(node.get("action_id")).startswith(prefix):
                return {**node, "block_id": block_id}
        raise AssertionError(f"no button {prefix!r} in {self.blocks_text()!r}")


@dataclass
class _Fault:
    status: int = 200
    error: str | None = None
    retry_after: int | None = None
    delay: float = 0.0
    times: int = 1
    held_until: threading.Event | None = None


@dataclass
class _RateLimit:
    """Slack's per-method limit: ``per_window`` calls in each fixed window of ``window`` s."""

    per_window: int
    window: float
    started: float = float("-inf")
    used: int = 0

    def admit(self, now: float) -> float | None:
        """None when the call is within the limit, else the seconds until the window resets."""
        if now - self.started >= self.window:
            self.started, self.used = now, 0
        if self.used < self.per_window:
            self.used += 1
            return None
        return self.window - (now - self.started)


@dataclass
class FakeSlack:
    """The fake Web API. ``users`` maps user IDs to ``users.info`` fields."""

    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    usergroups: dict[str, list[str]] = field(default_factory=dict)
    port: int = 0
    _calls: list[Call] = field(default_factory=list)
    _faults: dict[str, list[_Fault]] = field(default_factory=dict)
    _limits: dict[str, _RateLimit] = field(default_factory=dict)
    _files: dict[str, dict[str, Any]] = field(default_factory=dict)
    _file_bodies: dict[str, bytes] = field(default_factory=dict)
    _file_streamed: set[str] = field(default_factory=set)
    _file_redirects: dict[str, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _ts: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _loop: asyncio.AbstractEventLoop | None = None
    _sockets: list[web.WebSocketResponse] = field(default_factory=list)
    socket_received: list[dict[str, Any]] = field(default_factory=list)

    # -- life cycle --------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    @contextmanager
    def running(self) -> Iterator[FakeSlack]:
        ready = threading.Event()
        stop: dict[str, Callable[[], None]] = {}

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            runner = web.AppRunner(self._app(), access_log=None)
            loop.run_until_complete(runner.setup())
            site = web.TCPSite(runner, "127.0.0.1", self.port)
            loop.run_until_complete(site.start())
            self.port = runner.addresses[0][1]
            stop["now"] = lambda: loop.call_soon_threadsafe(loop.stop)
            ready.set()
            loop.run_forever()
            for socket in list(self._sockets):
                loop.run_until_complete(socket.close())
            loop.run_until_complete(runner.cleanup())
            loop.close()

        thread = threading.Thread(target=serve, name="fake-slack", daemon=True)
        thread.start()
        if not ready.wait(10):
            raise RuntimeError("the fake Slack server did not start")
        try:
            yield self
        finally:
            stop["now"]()
            thread.join(10)

    # -- what tests tell it ------------------------------------------------------------

    def add_user(self, user_id: str, *, locale: str = "en-US", is_bot: bool = False) -> None:
        self.users[user_id] = {"id": user_id, "locale": locale, "is_bot": is_bot}

    def add_file(
        self,
        file_id: str,
        name: str,
        content: bytes,
        *,
        size: int | None = None,
        streamed: bool = False,
        redirect_to: str | None = None,
    ) -> dict[str, Any]:
        """A file as Slack's event payload shows it (id and name); files.info has the rest
        (``size`` as given, else the content's). A ``streamed`` file is sent chunked, in 64 KiB
        writes, with no Content-Length; with ``redirect_to`` the download answers 302 there."""
        info = {
            "id": file_id,
            "name": name,
            "size": len(content) if size is None else size,
            "mimetype": "application/octet-stream",
            "url_private": f"{self.url}/files/{file_id}/{name}",
            "url_private_download": f"{self.url}/files/{file_id}/download/{name}",
        }
        with self._lock:
            self._files[file_id] = info
            self._file_bodies[file_id] = content
            if streamed:
                self._file_streamed.add(file_id)
            if redirect_to is not None:
                self._file_redirects[file_id] = redirect_to
        return {"id": file_id, "name": name}

    def fail_next(
        self,
        method: str,
        *,
        status: int = 429,
        retry_after: int | None = 1,
        error: str | None = "ratelimited",
        times: int = 1,
    ) -> None:
        """The next ``times`` calls of ``method`` fail (by default: 429, Retry-After 1)."""
        with self._lock:
            self._faults.setdefault(method, []).append(
                _Fault(status=status, error=error, retry_after=retry_after, times=times)
            )

    def error_next(self, method: str, error: str, *, times: int = 1) -> None:
        """The next calls of ``method`` answer 200 ``{"ok": false, "error": error}``."""
        self.fail_next(method, status=200, retry_after=None, error=error, times=times)

    def slow(self, method: str, seconds: float, *, times: int = 1) -> None:
        with self._lock:
            self._faults.setdefault(method, []).append(
                _Fault(status=200, error=None, delay=seconds, times=times)
            )

    def hold(self, method: str) -> threading.Event:
        """The next call of ``method`` is answered only once the returned event is set (a Slack
        API as slow as a test needs, without a timed wait; a guard answers it after 60 s)."""
        release = threading.Event()
        with self._lock:
            self._faults.setdefault(method, []).append(_Fault(held_until=release))
        return release

    def rate_limit(self, method: str, per_window: int, *, window: float = 60.0) -> None:
        """Past ``per_window`` calls of ``method`` in a window (Slack's: a minute), answer 429
        ``ratelimited`` with Retry-After the whole seconds until the window resets."""
        with self._lock:
            self._limits[method] = _RateLimit(per_window=per_window, window=window)

    def reset(self) -> None:
        with self._lock:
            self._calls.clear()
            self._faults.clear()
            self._limits.clear()

    # -- what tests ask it -------------------------------------------------------------

    def calls(self, method: str | None = None, *, ok: bool | None = True) -> list[Call]:
        """Recorded calls (only the ones answered 200 ``ok``, unless ``ok`` is None/False)."""
        with self._lock:
            calls = list(self._calls)
        if method is not None:
            calls = [c for c in calls if c.method == method]
        if ok is True:
            calls = [c for c in calls if c.status == 200]
        elif ok is False:
            calls = [c for c in calls if c.status != 200]
        return calls

    def messages_to(self, channel: str) -> list[Call]:
        return [c for c in self.calls("chat.postMessage") if c.params.get("channel") == channel]

    async def wait_for(
        self,
        method: str,
        *,
        count: int = 1,
        where: Callable[[Call], bool] = lambda call: True,
        within: float = 10.0,
    ) -> list[Call]:
        """Wait until at least ``count`` matching calls were answered; return them."""
        deadline = time.monotonic() + within
        while True:
            found = [c for c in self.calls(method) if where(c)]
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                seen = [
                    (c.method, c.params.get("channel"), c.text[:120]) for c in self.calls(ok=None)
                ]
                raise AssertionError(
                    f"expected {count} {method} call(s), got {len(found)}; calls: {seen[-12:]}"
                )
            await asyncio.sleep(0.02)

    async def settle(self, quiet: float = 0.5) -> None:
        """Wait until nothing has been called for ``quiet`` seconds (to prove absence)."""
        while True:
            calls = self.calls(ok=None)
            last = calls[-1].at if calls else 0.0
            wait = last + quiet - time.monotonic()
            if wait <= 0:
                return
            await asyncio.sleep(wait)

    # -- Socket Mode -------------------------------------------------------------------

    async def socket_connected(self, within: float = 10.0) -> None:
        deadline = time.monotonic() + within
        while not self._sockets:
            if time.monotonic() > deadline:
                raise AssertionError("no Socket Mode connection")
            await asyncio.sleep(0.02)

    async def socket_acks(self, count: int, within: float = 10.0) -> list[dict[str, Any]]:
        """Wait for ``count`` messages from the client (acknowledgements by envelope ID)."""
        deadline = time.monotonic() + within
        while len(self.socket_received) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"got {self.socket_received}, expected {count} messages")
            await asyncio.sleep(0.02)
        return list(self.socket_received)

    def socket_send(self, message: dict[str, Any]) -> None:
        assert self._loop is not None
        assert self._sockets
        socket = self._sockets[-1]
        asyncio.run_coroutine_threadsafe(socket.send_json(message), self._loop).result(5)

    # -- the server --------------------------------------------------------------------

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/respond/{hook}", self._respond)
        app.router.add_get("/files/{file_id}/{rest:.*}", self._file)
        app.router.add_get("/socket", self._socket)
        return app

    def _record(
        self, method: str, params: dict[str, Any], request: web.Request, status: int
    ) -> None:
        with self._lock:
            self._calls.append(
                Call(
                    method=method,
                    params=params,
                    headers={k.lower(): v for k, v in request.headers.items()},
                    status=status,
                    at=time.monotonic(),
                )
            )

    async def _params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        if request.content_type == "application/json":
            body = await request.json()
            if isinstance(body, dict):
                params.update(body)
        elif request.can_read_body:
            params.update(await request.post())
        return params

    def _fault(self, method: str) -> _Fault | None:
        with self._lock:
            queue = self._faults.get(method) or []
            if not queue:
                return None
            fault = queue[0]
            fault.times -= 1
            if fault.times <= 0:
                queue.pop(0)
            return fault

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = await self._params(request)
        fault = self._fault(method)
        if fault is not None:
            if fault.delay:
                await asyncio.sleep(fault.delay)
            if fault.held_until is not None:
                await asyncio.to_thread(fault.held_until.wait, 60)
            if fault.status != 200:
                self._record(method, params, request, fault.status)
                headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after else {}
                return web.json_response(
                    {"ok": False, "error": fault.error}, status=fault.status, headers=headers
                )
            if fault.error:
                self._record(method, params, request, 400)
                return web.json_response({"ok": False, "error": fault.error})
        with self._lock:
            limit = self._limits.get(method)
            wait = limit.admit(time.monotonic()) if limit else None
        if wait is not None:
            self._record(method, params, request, 429)
            return web.json_response(
                {"ok": False, "error": "ratelimited"},
                status=429,
                headers={"Retry-After": str(max(1, math.ceil(wait)))},
            )
        token = request.headers.get("Authorization", "")
        if not token.startswith("Bearer x"):
            self._record(method, params, request, 401)
            return web.json_response({"ok": False, "error": "not_authed"})
        body = self._answer(method, params)
        self._record(method, params, request, 200 if body.get("ok") else 400)
        return web.json_response(body)

    def _next_ts(self) -> str:
        with self._lock:
            return f"{int(time.time())}.{next(self._ts):06d}"

    def _answer(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        if method == "auth.test":
            return {
                "ok": True,
                "url": "https://certdesk-test.slack.com/",
                "team": "certdesk test",
                "user": "certdesk",
                "team_id": TEAM,
                "user_id": BOT_USER,
                "bot_id": BOT_ID,
                "is_enterprise_install": False,
            }
        if method in ("chat.postMessage", "chat.postEphemeral"):
            return {"ok": True, "channel": params.get("channel"), "ts": self._next_ts()}
        if method == "chat.update":
            return {"ok": True, "channel": params.get("channel"), "ts": params.get("ts")}
        if method == "conversations.open":
            users = str(params.get("users") or "")
            if users not in self.users:
                return {"ok": False, "error": "user_not_found"}
            return {"ok": True, "channel": {"id": f"D{users}"}}
        if method == "users.info":
            user = self.users.get(str(params.get("user")))
            if user is None:
                return {"ok": False, "error": "user_not_found"}
            return {"ok": True, "user": {"deleted": False, **user}}
        if method == "usergroups.users.list":
            group = str(params.get("usergroup"))
            if group not in self.usergroups:
                return {"ok": False, "error": "no_such_subteam"}
            return {"ok": True, "users": self.usergroups[group]}
        if method in ("views.publish", "views.open", "views.update"):
            return {"ok": True, "view": {"id": "V0001"}}
        if method == "files.info":
            info = self._files.get(str(params.get("file")))
            if info is None:
                return {"ok": False, "error": "file_not_found"}
            return {"ok": True, "file": info}
        if method == "apps.connections.open":
            return {"ok": True, "url": f"ws://127.0.0.1:{self.port}/socket"}
        return {"ok": False, "error": "unknown_method"}

    async def _respond(self, request: web.Request) -> web.Response:
        params = await request.json()
        params["hook"] = request.match_info["hook"]
        self._record("response_url", params, request, 200)
        return web.Response(text="ok")

    async def _file(self, request: web.Request) -> web.StreamResponse:
        file_id = request.match_info["file_id"]
        self._record("file_download", {"file": file_id}, request, 200)
        if request.headers.get("Authorization", "") != "Bearer xoxb-test":
            return web.Response(status=302, headers={"Location": "/login"})
        if file_id in self._file_redirects:
            return web.Response(status=302, headers={"Location": self._file_redirects[file_id]})
        body = self._file_bodies.get(file_id)
        if body is None:
            raise web.HTTPNotFound()
        if file_id not in self._file_streamed:
            return web.Response(body=body, content_type="application/octet-stream")
        response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for start in range(0, len(body), 64 * 1024):
            await response.write(body[start : start + 64 * 1024])
            await asyncio.sleep(0.01)
        await response.write_eof()
        return response

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse(autoping=True)
        await socket.prepare(request)
        self._sockets.append(socket)
        await socket.send_json({"type": "hello", "num_connections": 1})
        async for message in socket:
            if message.type == aiohttp.WSMsgType.TEXT:
                self.socket_received.append(json.loads(message.data))
        self._sockets.remove(socket)
        return socket


# -- Slack's side of the requests -------------------------------------------------------------

BOT_TOKEN = "xoxb-test"
SIGNING_SECRET = "test-signing-secret-0123456789abcdef"


def signature(secret: str, timestamp: str, body: str) -> str:
    base = f"v0:{timestamp}:{body}".encode()
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


@dataclass
class SlackSender:
    """Posts signed requests to certdesk's ``/slack/events`` as Slack does."""

    url: str
    fake: FakeSlack
    secret: str = SIGNING_SECRET
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def next_id(self, prefix: str) -> str:
        """A fresh ID; unique across senders, since event IDs are remembered by the server."""
        return f"{prefix}{next(self._ids):04d}{uuid.uuid4().hex[:10].upper()}"

    async def post(
        self,
        body: str,
        *,
        content_type: str,
        timestamp: int | None = None,
        secret: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, str]:
        ts = str(int(time.time()) if timestamp is None else timestamp)
        all_headers = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": signature(secret or self.secret, ts, body),
            **(headers or {}),
        }
        async with (
            aiohttp.ClientSession() as session,
            session.post(f"{self.url}/slack/events", data=body.encode(), headers=all_headers) as r,
        ):
            return r.status, await r.text()

    async def event(
        self, event: dict[str, Any], *, event_id: str | None = None, retry: int | None = None
    ) -> tuple[int, str]:
        body = json.dumps(event_callback(event, event_id=event_id or self.next_id("Ev")))
        headers = {}
        if retry is not None:
            headers = {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
        return await self.post(body, content_type="application/json", headers=headers)

    async def command(
        self, command: str, text: str, *, user: str, channel: str = "C0GENERAL"
    ) -> tuple[int, str]:
        form = {
            "token": "legacy",
            "team_id": TEAM,
            "team_domain": "certdesk-test",
            "channel_id": channel,
            "channel_name": "general",
            "user_id": user,
            "user_name": user.lower(),
            "command": command,
            "text": text,
            "api_app_id": APP,
            "response_url": f"{self.fake.url}/respond/{self.next_id('R')}",
            "trigger_id": self.next_id("TRIG"),
        }
        return await self.post(urlencode(form), content_type="application/x-www-form-urlencoded")

    async def click(
        self,
        button: dict[str, Any],
        *,
        user: str,
        channel: str | None = None,
        message_ts: str = "1700000000.000001",
    ) -> tuple[int, str]:
        """Press a button recorded in a call (see :meth:`Call.button`)."""
        payload: dict[str, Any] = {
            "type": "block_actions",
            "team": {"id": TEAM},
            "user": {"id": user, "team_id": TEAM},
            "api_app_id": APP,
            "token": "legacy",
            "trigger_id": self.next_id("TRIG"),
            "container": {"type": "message", "message_ts": message_ts},
            "response_url": f"{self.fake.url}/respond/{self.next_id('R')}",
            "actions": [
                {
                    "type": "button",
                    "action_id": button["action_id"],
                    "block_id": button.get("block_id") or "b",
                    "value": button.get("value", ""),
                    "action_ts": str(time.time()),
                }
            ],
        }
        if channel is not None:
            payload["channel"] = {"id": channel}
            payload["message"] = {"ts": message_ts, "text": ""}
        return await self.post(
            urlencode({"payload": json.dumps(payload)}),
            content_type="application/x-www-form-urlencoded",
        )

    async def submit_view(
        self, view: dict[str, Any], values: dict[str, Any], *, user: str
    ) -> tuple[int, str]:
        payload = {
            "type": "view_submission",
            "team": {"id": TEAM},
            "user": {"id": user, "team_id": TEAM},
            "api_app_id": APP,
            "token": "legacy",
            "trigger_id": self.next_id("TRIG"),
            "view": {"type": "modal", **view, "id": "V0001", "state": {"values": values}},
        }
        return await self.post(
            urlencode({"payload": json.dumps(payload)}),
            content_type="application/x-www-form-urlencoded",
        )


def event_callback(event: dict[str, Any], *, event_id: str) -> dict[str, Any]:
    return {
        "token": "legacy",
        "team_id": TEAM,
        "api_app_id": APP,
        "event": event,
        "type": "event_callback",
        "event_id": event_id,
        "event_time": int(time.time()),
        "authorizations": [{"team_id": TEAM, "user_id": BOT_USER, "is_bot": True}],
        "is_ext_shared_channel": False,
    }


def dm(user: str, text: str, **extra: Any) -> dict[str, Any]:
    ts = f"{time.time():.6f}"
    return {
        "type": "message",
        "channel": f"D{user}",
        "channel_type": "im",
        "user": user,
        "text": text,
        "ts": ts,
        "event_ts": ts,
        **extra,
    }
