"""``GET /link``: a holder outside Slack asks for a new download link by reference number and
the e-mail address the RA registered.

The answer is the same page with the same status whether or not the two matched, and the
matching and mailing happen after the answer (a background task of the ``LinkRequests`` the
composition root provides: bot/mail/link_requests.py), so neither the page nor its timing says
whether a reference number exists. The new link goes to the registered address only, never
to the typed one. Requests are limited per reference number and per client (in memory, see
``enrollment/ratelimit.py``): over the limit, a 429 page, again the same for every reference.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Protocol
from urllib.parse import parse_qs

from aiohttp import web

from common.language import Lang
from enrollment.codes import normalize_reference
from enrollment.ratelimit import RateLimited, WindowLimiter
from enrollment.web.body import read_request
from enrollment.web.html import render
from enrollment.web.messages import text
from enrollment.web.pages import _page, page_errors, page_language

log = logging.getLogger(__name__)

FORM_LIMIT = 4096
PER_REFERENCE = (3, timedelta(hours=1))
PER_CLIENT = (10, timedelta(hours=1))


class LinkRequests(Protocol):
    """Mails a new link to the enrollment's registered address when ``email`` matches it;
    does nothing otherwise. Called after the page has answered."""

    async def request_link(self, reference_number: str, email: str) -> None: ...


class LinkLimits:
    """The two windows (per reference number, per client) of one process."""

    def __init__(self) -> None:
        self.per_reference = WindowLimiter(limit=PER_REFERENCE[0], window=PER_REFERENCE[1])
        self.per_client = WindowLimiter(limit=PER_CLIENT[0], window=PER_CLIENT[1])

    def check(self, reference: str, client: str) -> None:
        for limiter, key in ((self.per_client, client), (self.per_reference, reference)):
            wait = limiter.retry_after(key)
            if wait:
                raise RateLimited(
                    "Too many requests for a new link. Wait a while and try again "
                    f"(in {wait} seconds); if no link arrives, ask your RA staff.",
                    retry_after=wait,
                )
        self.per_client.hit(client)
        self.per_reference.hit(reference)


LINK_REQUESTS = web.AppKey("link_requests", LinkRequests)
LINK_LIMITS = web.AppKey("link_limits", LinkLimits)
LINK_TASKS: web.AppKey[set[asyncio.Task[None]]] = web.AppKey("link_tasks")


def _query(lang: Lang, request: web.Request) -> str:
    return f"?lang={lang}" if "lang" in request.query else ""


async def link_form(request: web.Request) -> web.Response:
    lang = page_language(request)
    content = render(
        "link.html", translate=lambda key: text(key, lang), query=_query(lang, request)
    )
    return _page(request, lang, title=text("link.title", lang), content=content)


async def link_request(request: web.Request) -> web.Response:
    lang = page_language(request)
    form = parse_qs((await read_request(request, limit=FORM_LIMIT)).decode("utf-8", "replace"))
    reference = normalize_reference(form.get("reference_number", [""])[0])[:32]
    email = form.get("email", [""])[0].strip()[:254]
    client = request.remote or "unknown"
    request.app[LINK_LIMITS].check(reference, client)
    if reference and email:
        task = asyncio.create_task(_ask(request.app[LINK_REQUESTS], reference, email))
        tasks = request.app[LINK_TASKS]
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    content = render(
        "link_sent.html", translate=lambda key: text(key, lang), query=_query(lang, request)
    )
    return _page(request, lang, title=text("link.sent.title", lang), content=content)


async def _ask(requests: LinkRequests, reference: str, email: str) -> None:
    try:
        await requests.request_link(reference, email)
    except Exception:  # the holder has their answer already; the log has the failure
        log.exception("new link request failed")


def add_routes(app: web.Application, requests: LinkRequests | None = None) -> None:
    """``GET``/``POST /link``; ``requests`` may be set later (``app[LINK_REQUESTS]``)."""
    if requests is not None:
        app[LINK_REQUESTS] = requests
    app[LINK_LIMITS] = LinkLimits()
    app[LINK_TASKS] = set()
    app.router.add_get("/link", page_errors(link_form))
    app.router.add_post("/link", page_errors(link_request))
