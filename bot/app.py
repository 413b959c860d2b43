"""The aiohttp application: health, metrics, the enrollment endpoint, and the Slack app
(when Slack is configured) or the local chat page (when it is not)."""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import AsyncIterator

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from sqlalchemy import text

from bot.access import bearer_matches, peer_address, peer_in, refused
from bot.chat import add_chat, add_slack_notice
from bot.datadir import ca_directory
from bot.knowledge import KnowledgeWatch, LiveKnowledge, certificate_reader
from bot.notify import build_notifier
from bot.reminders import reminder_clock, run_config
from bot.runtime import Runtime, open_runtime
from bot.settings import Settings
from bot.slack.app import add_slack
from bot.startup import describe, startup_facts
from enrollment.db import UNAVAILABLE, storage_failure
from enrollment.errors import StorageUnavailable
from enrollment.pg import lean_postgres
from enrollment.protocols import est as enrollment_est
from enrollment.protocols.cmp import http as enrollment_cmp
from enrollment.protocols.ocsp import http as enrollment_ocsp
from enrollment.protocols.ocsp.responder import OcspResponder, ResponderConfig
from enrollment.protocols.ocsp.states import StoreStates
from enrollment.reads import read_connection
from enrollment.web import api as enrollment_web
from enrollment.web import client_certificates
from enrollment.web import downloads as enrollment_downloads
from enrollment.web import link_page as enrollment_link_page
from enrollment.web import pages as enrollment_pages
from enrollment.web.downloads import ClientDownloads
from scheduler.clock import ReminderClock
from scheduler.run import ReminderRunner

log = logging.getLogger(__name__)

SETTINGS = web.AppKey("settings", Settings)
RUNTIME = web.AppKey("runtime", Runtime)
REMINDER_CLOCK = web.AppKey("reminder_clock", ReminderClock)
KNOWLEDGE = web.AppKey("knowledge", LiveKnowledge)


async def healthz(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    try:
        lean = lean_postgres(runtime.engine)
        if lean is not None:  # PostgreSQL: one round trip on the hot path's own pool
            await lean.fetchrow("SELECT 1")
        else:  # read-only: on SQLite no write lock, so it does not queue behind writers
            async with read_connection(runtime.engine) as connection:
                await connection.execute(text("SELECT 1"))
    except Exception as exc:  # the check reports any database failure
        log.warning("health check failed", extra={"error": type(exc).__name__})
        failure = storage_failure(exc) or StorageUnavailable(UNAVAILABLE)
        body = {"status": "error", "database": "unreachable", **failure.to_json()}
        return web.json_response(body, status=503)
    return web.json_response({"status": "ok", "database": "ok"})


async def metrics(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    token, networks = settings.metrics_token, settings.metrics_allow
    restricted = token is not None or bool(networks)
    if restricted and not (bearer_matches(request, token) or peer_in(request, networks)):
        log.info("metrics refused", extra={"peer": peer_address(request)})
        if token is not None:
            return refused(
                code="metrics_unauthorized",
                message="Metrics need the header Authorization: Bearer <CERTDESK_METRICS_TOKEN>.",
                status=401,
            )
        return refused(
            code="metrics_forbidden",
            message="Metrics are served only to the networks in CERTDESK_METRICS_ALLOW.",
            status=403,
        )
    body = generate_latest(REGISTRY)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def provide_enrollment(app: web.Application, runtime: Runtime, *, ocsp_states: StoreStates) -> None:
    """Each enrollment handler gets the use case it calls, not the whole set."""
    services = runtime.services
    app[enrollment_web.ISSUING_CA] = services.ca
    app[enrollment_web.ENROLLMENT_CONFIG] = services.config
    app[enrollment_web.LINKS] = services.links
    app[enrollment_web.RENEWAL] = services.renewal
    app[enrollment_web.KEY_RENEWAL] = services.key_renewal
    app[enrollment_web.REVOCATION] = services.revocation
    app[enrollment_est.ENROLLMENT] = services.by_reference
    app[enrollment_est.REENROLLMENT] = services.key_renewal
    app[enrollment_cmp.DOMAIN] = enrollment_cmp.CmpDomain(
        ca=services.ca,
        max_failed_attempts=services.config.max_failed_attempts,
        enrollment=services.by_reference,
        renewal=services.key_renewal,
        revocation=services.revocation,
    )
    app[enrollment_ocsp.RESPONDER] = OcspResponder(
        ca=services.ca,
        states=ocsp_states,
        config=ResponderConfig(
            lifetime=services.config.crl_validity,
            refresh=services.config.crl_refresh,
            signer_directory=ca_directory(runtime.settings),
        ),
    )


def provide_mail(app: web.Application, settings: Settings, runtime: Runtime) -> None:
    """``GET /link``'s mailer (bot/mail/link_requests.py)."""
    from bot.mail.holders import HolderLookup
    from bot.mail.link_requests import MailedLinkRequests
    from bot.mail.wiring import holder_notices

    app[enrollment_link_page.LINK_REQUESTS] = MailedLinkRequests(
        ra=runtime.services.ra,
        lookup=HolderLookup(engine=runtime.engine),
        notices=holder_notices(settings, runtime),
    )


def create_app(settings: Settings, *, tls_context: ssl.SSLContext | None = None) -> web.Application:
    """Build the application; the runtime (DB, CA, services) starts in ``cleanup_ctx``.
    ``tls_context`` is the listening sockets' (``certdesk serve`` with CERTDESK_TLS…): it
    learns certdesk's CA as the client certificates' trust anchor, and with ``auto`` gets its
    server certificate, at startup."""
    # No global error middleware: each group owns its errors (the API and the chat as
    # sub-applications with their own middleware, the pages behind pages.page_errors, CMP and
    # EST answering in their protocols). The root's one middleware answers only requests that
    # no route serves (a browser gets the not-found page).
    app = web.Application(middlewares=[enrollment_pages.unrouted_pages])
    app[SETTINGS] = settings

    knowledge = LiveKnowledge(settings)
    app[KNOWLEDGE] = knowledge

    async def knowledge_ctx(app: web.Application) -> AsyncIterator[None]:
        """Load the entries first (a broken file stops the start before anything else runs),
        then reread the RA's entries on a period and on SIGHUP."""
        await asyncio.to_thread(knowledge.load)
        watch = KnowledgeWatch(knowledge, period=settings.knowledge_reload_seconds)
        watch.start()
        try:
            yield
        finally:
            await watch.stop()

    async def runtime_ctx(app: web.Application) -> AsyncIterator[None]:
        async with open_runtime(settings) as runtime:
            app[RUNTIME] = runtime
            ocsp_states = StoreStates(runtime.engine)  # the responder's own read connection
            provide_enrollment(app, runtime, ocsp_states=ocsp_states)
            await app[enrollment_ocsp.RESPONDER].prepare()  # the OCSP signer, made if due
            provide_mail(app, settings, runtime)
            facts = startup_facts(settings, runtime.ca)
            log.info("certdesk started: %s", describe(facts), extra=facts)
            try:
                yield
            finally:
                await ocsp_states.close()

    async def reminders_ctx(app: web.Application) -> AsyncIterator[None]:
        """The in-process reminder clock (off with CERTDESK_SERVE_REMINDERS=false)."""
        if not settings.serve_reminders:
            yield
            return
        engine = app[RUNTIME].engine
        runner = ReminderRunner(
            engine=engine, notifier=build_notifier(settings, engine), config=run_config(settings)
        )
        async with reminder_clock(settings, runner) as clock:
            app[REMINDER_CLOCK] = clock
            yield

    async def mail_queue_ctx(app: web.Application) -> AsyncIterator[None]:
        """Queued mails (separate code mails) sent every minute; GET /link's mails finished."""
        from bot.mail.wiring import mail_queue_clock

        async with mail_queue_clock(settings, app[RUNTIME].engine):
            yield
        pending = app[enrollment_link_page.LINK_TASKS]
        if pending:
            await asyncio.wait(set(pending), timeout=30)

    async def tls_ctx(app: web.Application) -> AsyncIterator[None]:
        if tls_context is None:
            yield
            return
        from bot.tls import auto_certificate, request_client_certificates

        ca = app[RUNTIME].ca
        request_client_certificates(tls_context, ca)
        if settings.tls != "auto":
            yield
            return
        async with auto_certificate(tls_context, ca=ca, settings=settings):
            yield

    app[client_certificates.POLICY] = client_certificates.ClientCertificatePolicy(
        trusted_proxies=settings.trusted_proxy, header=settings.client_cert_header
    )
    app.cleanup_ctx.append(knowledge_ctx)
    app.cleanup_ctx.append(runtime_ctx)
    app.cleanup_ctx.append(tls_ctx)
    app.cleanup_ctx.append(reminders_ctx)
    app.cleanup_ctx.append(mail_queue_ctx)
    if settings.slack_enabled:
        add_slack(
            app,
            settings,
            runtime=RUNTIME,
            knowledge=lambda: knowledge,
            certificate_reader=certificate_reader(),
        )
        add_slack_notice(app)
    else:
        add_chat(
            app,
            runtime=RUNTIME,
            knowledge=lambda: knowledge,
            operator_token=settings.operator_token,
        )
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    enrollment_web.add_routes(app)
    enrollment_est.add_routes(app)
    enrollment_pages.add_routes(app)
    enrollment_downloads.add_routes(app, ClientDownloads(settings.client_directory))
    enrollment_link_page.add_routes(app)
    enrollment_cmp.add_routes(app)
    enrollment_ocsp.add_routes(app)
    return app
