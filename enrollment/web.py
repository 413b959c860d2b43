"""The enrollment endpoint's API: one-time link redemption, the CA chain.

The handlers are thin: they parse the request, call :class:`EnrollmentService`, and map domain
errors to JSON ``{"error": {"code", "message"}}`` with a 4xx status.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from enrollment.errors import CertdeskError, RequestInvalid, RequestTooLarge
from enrollment.service import EnrollmentService

log = logging.getLogger(__name__)

SERVICE = web.AppKey("enrollment_service", EnrollmentService)
MAX_BODY_BYTES = 64 * 1024

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error_json(error: CertdeskError) -> web.Response:
    return web.json_response(error.to_json(), status=error.status)


@web.middleware
async def api_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """On ``/api/`` and protocol paths, every error is JSON; a 5xx is logged as a bug."""
    try:
        return await handler(request)
    except CertdeskError as exc:
        if not request.path.startswith("/api/"):
            raise
        log.info("request refused", extra={"code": exc.code, "path_kind": request.path[:12]})
        return error_json(exc)
    except web.HTTPException as exc:
        if not request.path.startswith("/api/") or exc.status < 400:
            raise
        code = exc.reason.lower().replace(" ", "_")
        return web.json_response(
            {"error": {"code": code, "message": exc.reason}}, status=exc.status
        )


async def read_json(request: web.Request, *, limit: int = MAX_BODY_BYTES) -> dict[str, Any]:
    """The request's JSON object, refusing bodies over ``limit`` without reading them whole."""
    if request.content_length is not None and request.content_length > limit:
        raise RequestTooLarge(
            f"The request body is over {limit // 1024} KiB; a CSR is far smaller."
        )
    body = await request.content.read(limit + 1)
    if len(body) > limit:
        raise RequestTooLarge(
            f"The request body is over {limit // 1024} KiB; a CSR is far smaller."
        )
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RequestInvalid(f"The request body is not valid JSON: {exc}.") from None
    if not isinstance(data, dict):
        raise RequestInvalid("The request body must be a JSON object.")
    return data


def require_str(data: dict[str, Any], name: str, *, max_length: int = 40_000) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value.strip():
        raise RequestInvalid(f"The field {name!r} is missing or not a non-empty string.")
    if len(value) > max_length:
        raise RequestInvalid(f"The field {name!r} is longer than {max_length} characters.")
    return value


async def enroll(request: web.Request) -> web.Response:
    data = await read_json(request)
    issued = await request.app[SERVICE].redeem_enrollment_link(
        request.match_info["token"],
        reference_number=require_str(data, "reference_number", max_length=64),
        authorization_code=require_str(data, "authorization_code", max_length=64),
        csr=require_str(data, "csr"),
        delivery="csr",
    )
    return web.json_response(
        {
            "certificate": issued.certificate_pem(),
            "chain": issued.chain_pem(),
            "serial": issued.serial,
            "not_after": issued.not_after.isoformat(),
        },
        status=201,
    )


async def ca_pem(request: web.Request) -> web.Response:
    return web.Response(
        body=request.app[SERVICE].ca.chain_pem(),
        content_type="application/x-pem-file",
        headers={"Cache-Control": "public, max-age=300"},
    )


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/v1/enroll/{token}", enroll)
    app.router.add_get("/ca.pem", ca_pem)
