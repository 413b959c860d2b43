"""The Slack app: a bolt ``AsyncApp`` composed with certdesk's services, mounted on the aiohttp
application at ``POST /slack/events`` (HTTP mode) and/or connected over Socket Mode when
``SLACK_APP_TOKEN`` is set.

Bolt checks every HTTP request's signature (5-minute window, 401 otherwise) and answers
``url_verification``; the event ledger drops Slack's retries; the Web API client waits out
429 answers (``Retry-After``) with slack-sdk's retry handlers.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from bot.dialog import CertificateReader, Knowledge
from bot.escalation import Escalations
from bot.knowledge import unanswered_log
from bot.runtime import Runtime
from bot.settings import Settings
from bot.slack.background import BackgroundTasks
from bot.slack.dedup import EventLedger
from bot.slack.desk import Desk
from bot.slack.listeners import register_all
from bot.slack.staff import StaffDirectory
from enrollment.queries import EnrollmentQueries

log = logging.getLogger(__name__)

SLACK_API_URL = "https://slack.com/api/"
MAX_BODY_BYTES = 1024 * 1024
RATE_LIMIT_RETRIES = 3


@dataclass(frozen=True, slots=True, kw_only=True)
class SlackBot:
    bolt: AsyncApp
    desk: Desk
    socket_mode: AsyncSocketModeHandler | None
    verifier: SignatureVerifier | None


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


def build_bolt_app(
    settings: Settings, desk: Desk, client: AsyncWebClient, *, ledger: EventLedger
) -> AsyncApp:
    secret = settings.slack_signing_secret
    app = AsyncApp(
        name="certdesk",
        client=client,
        signing_secret=secret.get_secret_value() if secret is not None else "",
        # Without a signing secret only Socket Mode runs, and its requests need no signature.
        request_verification_enabled=secret is not None,
        logger=logging.getLogger("bot.slack.bolt"),
        # Listeners only ack and hand slow work to Desk.tasks, so running them before the
        # response costs nothing; events are dispatched after their ack (see slack_events).
        process_before_response=True,
    )
    app.middleware(ledger.middleware)
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
    """``POST /slack/events``: the aiohttp request as a bolt request, and back."""
    bot = request.app[SLACK]
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        return web.json_response({"error": "request too large"}, status=413)
    body = await request.content.read(MAX_BODY_BYTES + 1)
    if len(body) > MAX_BODY_BYTES:
        return web.json_response({"error": "request too large"}, status=413)
    # Bolt reads its lazy-listener switches from headers; outside callers may not set them.
    headers: dict[str, str | Sequence[str]] = {
        key.lower(): value
        for key, value in request.headers.items()
        if not key.lower().startswith("x-slack-bolt-")
    }
    timestamp = request.headers.get("X-Slack-Request-Timestamp", "")
    if not timestamp.isdigit():
        return web.json_response({"error": "invalid request"}, status=401)
    bolt_request = AsyncBoltRequest(
        body=body.decode("utf-8", errors="replace"),
        query=request.query_string,
        headers=headers,
    )
    signature = request.headers.get("X-Slack-Signature", "")
    if (
        bot.verifier is not None
        and is_event_callback(body)
        and bot.verifier.is_valid(body, timestamp, signature)
    ):
        # Events need nothing but a 200, and their handling starts with a database write
        # (the event ledger) that can queue under load: ack first, dispatch after.
        bot.desk.tasks.spawn(dispatch_event(bot.bolt, bolt_request), name="slack-event")
        return web.Response(status=200)
    response: BoltResponse = await bot.bolt.async_dispatch(bolt_request)
    return await to_aiohttp_response(response)


def is_event_callback(body: bytes) -> bool:
    if not body.startswith(b"{"):
        return False
    try:
        payload = json.loads(body)
    except ValueError:
        return False
    return isinstance(payload, dict) and payload.get("type") == "event_callback"


async def dispatch_event(bolt: AsyncApp, request: AsyncBoltRequest) -> None:
    response = await bolt.async_dispatch(request)
    if response.status >= 500:
        log.warning("Slack event failed", extra={"status": response.status})


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
                unanswered=unanswered_log(rt.engine),
                knowledge=await asyncio.to_thread(knowledge),
                read_certificate_file=certificate_reader,
                staff=StaffDirectory(settings.ra_staff),
                tasks=BackgroundTasks(),
                http=http,
            )
            client = web_client(settings, http)
            bolt = build_bolt_app(settings, desk, client, ledger=EventLedger(engine=rt.engine))
            socket_mode = None
            if settings.slack_socket_mode:
                assert settings.slack_app_token is not None
                socket_mode = AsyncSocketModeHandler(
                    bolt,
                    app_token=settings.slack_app_token.get_secret_value(),
                    web_client=client,
                    logger=logging.getLogger("bot.slack.socket_mode"),
                )
                await socket_mode.client.connect()  # type: ignore[no-untyped-call]
            secret = settings.slack_signing_secret
            app[SLACK] = SlackBot(
                bolt=bolt,
                desk=desk,
                socket_mode=socket_mode,
                verifier=SignatureVerifier(secret.get_secret_value()) if secret else None,
            )
            log.info("Slack app ready", extra={"socket_mode": socket_mode is not None})
            try:
                yield
            finally:
                if socket_mode is not None:
                    await socket_mode.client.close()  # type: ignore[no-untyped-call]
                await desk.tasks.close()

    app.cleanup_ctx.append(slack_ctx)
    if settings.slack_signing_secret is not None:
        app.router.add_post("/slack/events", slack_events)
