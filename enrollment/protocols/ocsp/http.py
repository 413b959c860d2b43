"""``POST /ocsp`` and ``GET /ocsp/{request}``: OCSP over HTTP (RFC 6960 A.1, RFC 5019 5-6).

Thin: the message work is in :mod:`.messages` (pure), the answers in :mod:`.responder`. Every
answer is an ``application/ocsp-response`` with HTTP 200, refusals included
(``malformedRequest``, ``unauthorized``; ``tryLater`` when the database cannot be read): OCSP
clients read the response status, not the HTTP one. GET answers carry RFC 5019's caching
headers (Cache-Control max-age, Expires, Last-Modified, ETag; a matching If-None-Match gets 304);
POST answers, answers with a nonce and refusals are ``no-store``.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from aiohttp import web

from common.errors import CertdeskError
from common.time import utcnow
from enrollment.db import storage_failure
from enrollment.errors import StorageUnavailable
from enrollment.protocols.ocsp.messages import (
    MALFORMED,
    MAX_REQUEST_BYTES,
    TRY_LATER,
    OcspQuery,
    OcspRefusal,
    ParsedRequests,
    SignedAnswer,
    decode_get_path,
    parse_request,
    unsuccessful,
)
from enrollment.protocols.ocsp.responder import OcspResponder, cache_max_age
from enrollment.web.body import read_request

log = logging.getLogger(__name__)

RESPONDER = web.AppKey("ocsp_responder", OcspResponder)
PARSED = web.AppKey("ocsp_parsed_requests", ParsedRequests)
RESPONSE_TYPE = "application/ocsp-response"
NO_STORE = {"Cache-Control": "no-store"}
INLINE_PARSE_BYTES = 512


async def ocsp_post(request: web.Request) -> web.Response:
    try:
        der = await read_request(request, limit=MAX_REQUEST_BYTES)
    except CertdeskError:  # too large
        return refusal(OcspRefusal(MALFORMED, "the request body is too large"))
    parsed = request.config_dict[PARSED]
    try:
        query = parsed.get(der) or await read_query(der, parsed, key=der)
    except OcspRefusal as exc:
        return refusal(exc)
    return await respond(request, query, get=False)


async def ocsp_get(request: web.Request) -> web.Response:
    raw = request.raw_path.split("?", 1)[0].removeprefix("/ocsp/")
    parsed = request.config_dict[PARSED]
    query = parsed.get(raw)
    if query is None:
        if len(raw) > MAX_REQUEST_BYTES * 2:
            return refusal(OcspRefusal(MALFORMED, "the GET path is too long"))
        try:
            query = await read_query(decode_get_path(raw), parsed, key=raw)
        except OcspRefusal as exc:
            return refusal(exc)
    return await respond(request, query, get=True)


async def read_query(der: bytes, parsed: ParsedRequests, *, key: str | bytes) -> OcspQuery:
    """The request read (kept in ``parsed`` under ``key``); :class:`OcspRefusal` if it cannot be."""
    # A typical request is about 100 bytes, parsed by cryptography's Rust in microseconds:
    # a thread hop would cost more than the parse. Larger bodies are parsed in a thread.
    if len(der) <= INLINE_PARSE_BYTES:
        query = parse_request(der)
    else:
        query = await asyncio.to_thread(parse_request, der)
    parsed.keep(key, query)
    return query


async def respond(request: web.Request, query: OcspQuery, *, get: bool) -> web.Response:
    responder = request.config_dict[RESPONDER]
    try:
        answer = await responder.answer(query)
    except OcspRefusal as exc:
        return refusal(exc)
    except Exception as exc:
        failure = exc if isinstance(exc, StorageUnavailable) else storage_failure(exc)
        if failure is None:
            raise
        log.warning("OCSP answer deferred", extra={"code": failure.code})
        return refusal(OcspRefusal(TRY_LATER, failure.code))
    if not get or query.nonce is not None:
        return web.Response(body=answer.der, content_type=RESPONSE_TYPE, headers=NO_STORE)
    headers = caching_headers(answer, refresh=responder.refresh)
    if answer.etag in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers=headers)
    return web.Response(body=answer.der, content_type=RESPONSE_TYPE, headers=headers)


def caching_headers(answer: SignedAnswer, *, refresh: timedelta) -> dict[str, str]:
    max_age = cache_max_age(answer, refresh=refresh, now=utcnow())
    return {
        "Cache-Control": f"max-age={max_age}, public, no-transform, must-revalidate",
        "Expires": answer.expires,
        "Last-Modified": answer.last_modified,
        "ETag": answer.etag,
    }


def refusal(exc: OcspRefusal) -> web.Response:
    log.debug("OCSP request refused", extra={"status": exc.status.name, "why": exc.why})
    return web.Response(body=unsuccessful(exc.status), content_type=RESPONSE_TYPE, headers=NO_STORE)


def add_routes(app: web.Application) -> None:
    app[PARSED] = ParsedRequests()
    app.router.add_post("/ocsp", ocsp_post)
    app.router.add_get("/ocsp", ocsp_get)  # no request at all: malformedRequest
    app.router.add_get("/ocsp/{request:.*}", ocsp_get)
