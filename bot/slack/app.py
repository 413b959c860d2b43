"""The Slack app: a bolt ``AsyncApp`` composed with certdesk's services, mounted on the aiohttp
application at ``POST /slack/events`` (HTTP mode) and/or connected over Socket Mode when
``SLACK_APP_TOKEN`` is set.

Every request enters through one door, whichever transport brought it:

- over HTTP, :func:`slack_events` reads the body and checks its signature on the raw bytes
  (5-minute window, 401 otherwise) -- the only signature check; bolt's own is off. An Events
  API ``event_callback`` then goes straight to :func:`accept_event`, without a bolt dispatch:
  the least that makes it durable is done before its 200;
- over Socket Mode, the WebSocket is already authenticated by the app token; requests go to
  :func:`accept`, which sends events to :func:`accept_event` too;
- :func:`accept_event` checks the event's fields, stores it in the durable inbox, acknowledges
  it, and leaves it to the worker, which feeds it through bolt later (so event listeners do
  their work inline); commands, actions and views are dispatched now, their listeners
  ``ack()`` and hand slow work to ``desk.later``, and a request that left slow work is stored
  before its acknowledgement leaves (:mod:`.worker`, :mod:`.inbox`).

Bolt answers ``url_verification``; the inbox's unique delivery ID drops Slack's retries by
event_id; the Web API client waits out 429 answers (``Retry-After``) with slack-sdk's retry
handlers.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket as sockets
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.adapter.socket_mode.async_internals import send_async_response
from slack_bolt.adapter.socket_mode.internals import build_headers
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.signature import SignatureVerifier
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.web.async_client import AsyncWebClient

from bot.dialog import CertificateReader, Knowledge
from bot.escalation import Escalations
from bot.mail.stats import failed_mail_count
from bot.questions import Questions
from bot.runtime import Runtime
from bot.settings import Settings
from bot.slack.background import BackgroundTasks
from bot.slack.desk import Desk
from bot.slack.inbox import Inbox
from bot.slack.listeners import register_all
from bot.slack.payloads import malformed
from bot.slack.staff import StaffDirectory
from bot.slack.worker import InboxWorker
from bot.unanswered import SqlUnansweredLog
from enrollment.errors import RequestTooLarge
from enrollment.queries import EnrollmentQueries
from enrollment.web.body import read_request

log = logging.getLogger(__name__)

SLACK_API_URL = "https://slack.com/api/"
MAX_BODY_BYTES = 1024 * 1024
RATE_LIMIT_RETRIES = 3


@dataclass(frozen=True, slots=True, kw_only=True)
class SlackBot:
    bolt: AsyncApp
    desk: Desk
    socket_mode: SocketModeClient | None
    verifier: SignatureVerifier | None
    worker: InboxWorker


SLACK = web.AppKey("slack", SlackBot)


def web_client(settings: Settings, session: aiohttp.ClientSession) -> AsyncWebClient:
    """The Web API client: base URL from SLACK_API_URL, 429s waited out per Retry-After."""
    assert settings.slack_bot_token is not None
    return AsyncWebClient(
        token=settings.slack_bot_token.get_secret_value(),
        base_url=settings.slack_api_url or SLACK_API_URL,
        session=session,
        timeout=30,
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(),
            AsyncRateLimitErrorRetryHandler(max_retry_count=RATE_LIMIT_RETRIES),
        ],
    )


def build_bolt_app(settings: Settings, desk: Desk, client: AsyncWebClient) -> AsyncApp:
    app = AsyncApp(
        name="certdesk",
        client=client,
        signing_secret="",
        # slack_events has checked the signature before bolt sees an HTTP request.
        request_verification_enabled=False,
        logger=logging.getLogger("bot.slack.bolt"),
        # Events reach bolt after their ack (see accept); the other listeners only ack and
        # hand slow work to Desk.tasks, so running them before the response costs nothing.
        process_before_response=True,
    )
    register_all(app, desk)

    @app.error
    async def on_error(error: Exception, body: dict[str, Any]) -> None:
        log.error(
            "Slack listener failed",
            exc_info=(type(error), error, error.__traceback__),
            extra={"payload_type": body.get("type")},
        )

    return app


async def slack_events(request: web.Request) -> web.StreamResponse:
    """``POST /slack/events``: the signature checked on the raw body, then an event goes
    straight to the inbox (:func:`accept_event`) and anything else to :func:`accept`."""
    bot = request.app[SLACK]
    with bot.worker.door.passing():
        try:
            body = await read_request(request, limit=MAX_BODY_BYTES)
        except RequestTooLarge:
            return web.json_response({"error": "request too large"}, status=413)
        timestamp = request.headers.get("X-Slack-Request-Timestamp", "")
        signature = request.headers.get("X-Slack-Signature", "")
        if (
            bot.verifier is None
            or not timestamp.isdigit()
            or not bot.verifier.is_valid(body, timestamp, signature)
        ):
            return web.json_response({"error": "invalid request"}, status=401)
        text = body.decode("utf-8", errors="replace")
        envelope = event_envelope(text)
        if envelope is not None:
            response = await accept_event(
                bot.worker, envelope, raw=text, retry=request.headers.get("X-Slack-Retry-Num")
            )
            return web.Response(
                status=response.status, text=response.body, content_type="application/json"
            )
    # Bolt reads its lazy-listener switches from headers; outside callers may not set them.
    headers: dict[str, str | Sequence[str]] = {
        key.lower(): value
        for key, value in request.headers.items()
        if not key.lower().startswith("x-slack-bolt-")
    }
    try:
        bolt_request = AsyncBoltRequest(body=text, query=request.query_string, headers=headers)
    except (ValueError, RecursionError, TypeError, AttributeError, KeyError, IndexError):
        # Signed, yet not a payload bolt can read (not JSON, nested too deeply, odd shapes).
        return web.json_response({"error": "unreadable payload"}, status=400)
    payload: object = bolt_request.body
    if not isinstance(payload, dict):
        return web.json_response({"error": "unreadable payload"}, status=400)
    return await to_aiohttp_response(await accept(bot.worker, bolt_request))


def event_envelope(text: str) -> dict[str, Any] | None:
    """The payload of an Events API ``event_callback`` (JSON, as Slack sends events), or None
    for anything else -- url_verification, commands, interactivity -- which bolt reads."""
    if not text.startswith("{"):
        return None
    try:
        payload = json.loads(text)
    except (ValueError, RecursionError):
        return None  # bolt refuses it the same way (400)
    if isinstance(payload, dict) and payload.get("type") == "event_callback":
        return payload
    return None


async def accept(worker: InboxWorker, request: AsyncBoltRequest) -> BoltResponse:
    """The door for every authenticated Slack request, HTTP or Socket Mode.

    An event goes to :func:`accept_event`; any other request is checked the same way
    (:mod:`.payloads`), dispatched to bolt now, and stored before its acknowledgement when it
    left slow work.
    """
    if request.body.get("type") == "event_callback":
        retry = request.headers.get("x-slack-retry-num")
        return await accept_event(worker, request.body, retry=retry[0] if retry else None)
    problem = malformed(request.body)
    if problem is not None:
        return refused(problem)
    return await worker.accept_request(request)


async def accept_event(
    worker: InboxWorker, body: dict[str, Any], *, raw: str | None = None, retry: str | None = None
) -> BoltResponse:
    """An event: a payload whose fields have the wrong types is a 400; any other is stored in
    the inbox before its 200 and handled later, through bolt, by the worker."""
    problem = malformed(body)
    if problem is not None:
        return refused(problem)
    return await worker.accept_event(body, raw=raw, retry=retry)


def refused(problem: str) -> BoltResponse:
    log.warning("Slack payload refused", extra={"field": problem})
    return BoltResponse(
        status=400,
        body=json.dumps({"error": "unreadable payload", "field": problem}),
        headers={"content-type": "application/json"},
    )


def socket_mode_client(
    settings: Settings, worker: InboxWorker, client: AsyncWebClient
) -> SocketModeClient:
    """The Socket Mode connection, its requests going through :func:`accept` like HTTP's."""
    assert settings.slack_app_token is not None
    socket = SocketModeClient(
        app_token=settings.slack_app_token.get_secret_value(),
        logger=logging.getLogger("bot.slack.socket_mode"),
        web_client=client,
        ping_interval=10,
    )

    async def on_request(socket: SocketModeClient, request: SocketModeRequest) -> None:
        started = time.time()
        bolt_request = AsyncBoltRequest(
            mode="socket_mode", body=request.payload, headers=build_headers(request)
        )
        response = await accept(worker, bolt_request)
        await send_async_response(socket, request, response, started)

    socket.socket_mode_request_listeners.append(on_request)  # type: ignore[arg-type]
    return socket


QUIET_LOGGERS = ("slack_sdk", "slack_bolt", "bot.slack.bolt", "bot.slack.socket_mode")


def keep_secrets_out_of_logs() -> None:
    """slack-sdk and bolt log request bodies at DEBUG, and those carry one-time links and
    authorization codes: their loggers stay at INFO even when certdesk logs at DEBUG."""
    for name in QUIET_LOGGERS:
        logger = logging.getLogger(name)
        logger.setLevel(max(logging.INFO, logger.getEffectiveLevel()))


def add_slack(
    app: web.Application,
    settings: Settings,
    *,
    runtime: web.AppKey[Runtime],
    knowledge: Callable[[], Knowledge | None],
    certificate_reader: CertificateReader | None,
) -> None:
    """Start the Slack app with the runtime (``cleanup_ctx``) and mount its endpoint."""

    async def slack_ctx(app: web.Application) -> AsyncIterator[None]:
        keep_secrets_out_of_logs()
        rt = app[runtime]
        async with aiohttp.ClientSession() as http:
            desk = Desk(
                settings=settings,
                ra=rt.services.ra,
                renewal=rt.services.renewal,
                revocation=rt.services.revocation,
                queries=EnrollmentQueries(engine=rt.engine),
                escalations=Escalations(engine=rt.engine),
                questions=Questions(
                    knowledge=await asyncio.to_thread(knowledge),
                    unanswered=SqlUnansweredLog(rt.engine),
                    source="slack",
                ),
                read_certificate_file=certificate_reader,
                staff=StaffDirectory(settings.ra_staff),
                tasks=BackgroundTasks(),
                mail_failures=partial(failed_mail_count, rt.engine),
                http=http,
            )
            client = web_client(settings, http)
            bolt = build_bolt_app(settings, desk, client)
            inbox = Inbox(
                engine=rt.engine,
                owner=f"{sockets.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}",
                lease=timedelta(seconds=settings.slack_inbox_lease_seconds),
            )
            worker = InboxWorker(bolt=bolt, inbox=inbox, tasks=desk.tasks)
            loop = asyncio.get_running_loop().create_task(worker.run(), name="slack-inbox")
            socket_mode = None
            if settings.slack_socket_mode:
                socket_mode = socket_mode_client(settings, worker, client)
                await socket_mode.connect()  # type: ignore[no-untyped-call]
            secret = settings.slack_signing_secret
            app[SLACK] = SlackBot(
                bolt=bolt,
                desk=desk,
                socket_mode=socket_mode,
                verifier=SignatureVerifier(secret.get_secret_value()) if secret else None,
                worker=worker,
            )
            log.info("Slack app ready", extra={"socket_mode": socket_mode is not None})
            try:
                yield
            finally:
                if socket_mode is not None:
                    await socket_mode.close()  # type: ignore[no-untyped-call]
                worker.stop()
                await loop
                await desk.tasks.close()

    app.cleanup_ctx.append(slack_ctx)
    if settings.slack_signing_secret is not None:
        app.router.add_post("/slack/events", slack_events)
