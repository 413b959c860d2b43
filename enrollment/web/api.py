"""The enrollment endpoint's API: one-time link redemption, renewal, the CA chain and CRL.

The handlers are thin: they parse the request, call the use case behind their app key (one of
:mod:`enrollment.services`), and map domain errors to JSON ``{"error": {"code", "message"}}``
with a 4xx status. The message is English, or Chinese when the request's Accept-Language
prefers it (the pages' script sends the page's).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from aiohttp import web
from cryptography.hazmat.primitives import serialization

from common.errors import CertdeskError
from common.language import negotiate
from common.links import FRIENDLY_NAME_HEADER
from enrollment.ca.authority import IssuingCA
from enrollment.ca.csr import MAX_CSR_BYTES
from enrollment.ca.pkcs12 import ascii_filename, parse_format, parse_key_type
from enrollment.errors import ClientCertificateRequired, RequestInvalid
from enrollment.models import Delivery
from enrollment.ratelimit import RateLimited
from enrollment.services.config import EnrollmentConfig
from enrollment.services.key_renewal import KeyRenewal
from enrollment.services.links import LinkRedemption
from enrollment.services.renewal import LinkRenewal
from enrollment.services.results import IssuedCertificate, Pkcs12Package, ServerKey
from enrollment.services.revocation import Revocation
from enrollment.web.body import read_request
from enrollment.web.client_certificates import client_certificate
from enrollment.web.messages import error_message
from enrollment.web.openapi import openapi_document

log = logging.getLogger(__name__)

# What the endpoint's handlers use, each set by the composition root.
ISSUING_CA = web.AppKey("issuing_ca", IssuingCA)
ENROLLMENT_CONFIG = web.AppKey("enrollment_config", EnrollmentConfig)
LINKS = web.AppKey("link_redemption", LinkRedemption)
RENEWAL = web.AppKey("link_renewal", LinkRenewal)
KEY_RENEWAL = web.AppKey("key_renewal", KeyRenewal)
REVOCATION = web.AppKey("revocation", Revocation)
MAX_BODY_BYTES = 64 * 1024
PKCS12_TYPE = "application/x-pkcs12"
NESTED_TOO_DEEPLY = (
    "The request body is not valid JSON: it is nested too deeply. Send a flat object."
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
OPENAPI_PATH = "/api/openapi.json"


def error_json(error: CertdeskError, request: web.Request | None = None) -> web.Response:
    body = error.to_json()
    if request is not None:
        lang = negotiate(request.headers.get("Accept-Language"))
        body["error"]["message"] = error_message(error, lang)
    headers = {"Retry-After": str(error.retry_after)} if isinstance(error, RateLimited) else None
    return web.json_response(body, status=error.status, headers=headers)


@web.middleware
async def api_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The JSON API's error boundary, the middleware of the ``/api/`` sub-application (so it
    sees only the API's requests): a domain error, and any 4xx such as an unknown path (404)
    or a wrong method (405, its Allow header kept), becomes ``{"error": {"code", "message"}}``
    with its status. Anything else propagates: aiohttp answers 500 and logs it, a bug."""
    try:
        return await handler(request)
    except CertdeskError as exc:
        log.info("request refused", extra={"code": exc.code, "route": route_pattern(request)})
        return error_json(exc, request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = exc.reason.lower().replace(" ", "_")
        headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        return web.json_response(
            {"error": {"code": code, "message": _http_message(request, exc)}},
            status=exc.status,
            headers=headers,
        )


def route_pattern(request: web.Request) -> str:
    """The matched route's pattern (``/api/v1/enroll/{token}``): what a log names instead of
    the path, which may hold a link token."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "(no route)"


def _http_message(request: web.Request, exc: web.HTTPException) -> str:
    """What to do about a wrong path or method; never the path itself (it may hold a token)."""
    described = f"The API's paths and methods are described at {OPENAPI_PATH}."
    if isinstance(exc, web.HTTPMethodNotAllowed):
        allowed = " or ".join(sorted(exc.allowed_methods))
        return f"{request.method} is not allowed on this path: use {allowed}. {described}"
    if isinstance(exc, web.HTTPNotFound):
        return f"There is no API path here. {described}"
    return f"{exc.reason}. {described}"


async def read_json(request: web.Request, *, limit: int = MAX_BODY_BYTES) -> dict[str, Any]:
    """The request's JSON object, refusing bodies over ``limit`` without reading them whole."""
    body = await read_request(request, limit=limit)
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RequestInvalid(f"The request body is not valid JSON: {exc}.") from None
    except RecursionError:
        raise RequestInvalid(NESTED_TOO_DEEPLY) from None
    if not isinstance(data, dict):
        raise RequestInvalid("The request body must be a JSON object.")
    return data


def require_str(data: dict[str, Any], name: str, *, max_length: int = 40_000) -> str:
    """A non-empty string field of at most ``max_length`` characters, valid Unicode.

    Exactly what the OpenAPI description promises (minLength 1, maxLength), so a request the
    description calls valid is never refused here.
    """
    value = data.get(name)
    if not isinstance(value, str) or not value:
        raise RequestInvalid(f"The field {name!r} is missing or not a non-empty string.")
    if len(value) > max_length:
        raise RequestInvalid(f"The field {name!r} is longer than {max_length} characters.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise RequestInvalid(f"The field {name!r} is not valid Unicode text.") from None
    return value


def optional_str(data: dict[str, Any], name: str, *, max_length: int = 64) -> str | None:
    if data.get(name) is None:
        return None
    return require_str(data, name, max_length=max_length)


def enrollment_codes(data: dict[str, Any]) -> dict[str, str]:
    """What redeems an enrollment link: its reference number and authorization code."""
    return {
        "reference_number": require_str(data, "reference_number", max_length=64),
        "authorization_code": require_str(data, "authorization_code", max_length=64),
    }


def renewal_codes(data: dict[str, Any]) -> dict[str, str]:
    """What redeems a renewal link: the certificate's serial and the verification code."""
    return {
        "serial": require_str(data, "serial", max_length=128),
        "verification_code": require_str(data, "verification_code", max_length=64),
    }


def server_key(data: dict[str, Any], request: web.Request) -> ServerKey:
    """The key the server makes and the file it goes in: the body's fields, the format also as
    ``?format=`` (the body's wins)."""
    password = data.get("password")
    if not isinstance(password, str):
        raise RequestInvalid("The field 'password' is missing or not a string.")
    key_type = parse_key_type(optional_str(data, "key_type") or "ec-p256")
    chosen = optional_str(data, "format") or request.query.get("format")
    file_format = parse_format(chosen or "modern")
    return ServerKey(password=password, key_type=key_type, file_format=file_format)


def issued_json(issued: IssuedCertificate) -> dict[str, Any]:
    """The contract's body: exactly certificate, chain, serial and not_after."""
    return {
        "certificate": issued.certificate_pem(),
        "chain": issued.chain_pem(),
        "serial": issued.serial,
        "not_after": issued.not_after.isoformat(),
    }


def issued_headers(issued: IssuedCertificate) -> dict[str, str]:
    """The name the PKCS#12 file should carry (percent-encoded UTF-8: names may be Chinese)."""
    return {FRIENDLY_NAME_HEADER: quote(issued.friendly_name or "", safe="")}


def attachment(filename: str) -> str:
    """RFC 6266: an ASCII ``filename=`` for old clients, the UTF-8 name in ``filename*``."""
    fallback = ascii_filename(filename)
    if fallback == filename:
        return f'attachment; filename="{filename}"'
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def pkcs12_response(package: Pkcs12Package) -> web.Response:
    headers = {
        "Content-Disposition": attachment(package.filename),
        "Certdesk-Serial": package.issued.serial,
        **issued_headers(package.issued),
    }
    if package.issued.replaces is not None:
        headers["Certdesk-Replaces"] = package.issued.replaces
    return web.Response(body=package.data, status=201, content_type=PKCS12_TYPE, headers=headers)


async def enroll(request: web.Request) -> web.Response:
    data = await read_json(request)
    issued = await request.config_dict[LINKS].redeem_enrollment_link(
        request.match_info["token"],
        **enrollment_codes(data),
        csr=require_str(data, "csr", max_length=MAX_CSR_BYTES),
        delivery=optional_str(data, "delivery") or "csr",
    )
    return web.json_response(issued_json(issued), status=201, headers=issued_headers(issued))


async def enroll_pkcs12(request: web.Request) -> web.Response:
    data = await read_json(request)
    package = await request.config_dict[LINKS].redeem_enrollment_link_pkcs12(
        request.match_info["token"],
        **enrollment_codes(data),
        server_key=server_key(data, request),
    )
    return pkcs12_response(package)


async def renew(request: web.Request) -> web.Response:
    data = await read_json(request)
    issued = await request.config_dict[RENEWAL].redeem_renewal_link(
        request.match_info["token"],
        **renewal_codes(data),
        csr=require_str(data, "csr", max_length=MAX_CSR_BYTES),
        delivery=optional_str(data, "delivery"),
    )
    return renewed_response(issued)


def renewed_response(issued: IssuedCertificate) -> web.Response:
    """201 with the renewed certificate, the serial it replaces, its name and delivery."""
    assert issued.replaces is not None
    body = {
        **issued_json(issued),
        "replaces": issued.replaces,
        "friendly_name": issued.friendly_name,
        "delivery": issued.delivery.value,
    }
    return web.json_response(body, status=201, headers=issued_headers(issued))


async def renew_pkcs12(request: web.Request) -> web.Response:
    data = await read_json(request)
    package = await request.config_dict[RENEWAL].redeem_renewal_link_pkcs12(
        request.match_info["token"],
        **renewal_codes(data),
        server_key=server_key(data, request),
    )
    return pkcs12_response(package)


MAX_CERTIFICATE_CHARS = 16 * 1024
MAX_SIGNATURE_CHARS = 2048


async def renew_challenge(request: web.Request) -> web.Response:
    """A one-time challenge for renewal by possession (``certdesk token renew``)."""
    data = await read_json(request)
    challenge = await request.config_dict[KEY_RENEWAL].create_renewal_challenge(
        require_str(data, "certificate", max_length=MAX_CERTIFICATE_CHARS),
        client=request.remote,
    )
    body = {"challenge": challenge.challenge, "expires_at": challenge.expires_at.isoformat()}
    return web.json_response(body, status=201)


async def renew_by_possession(request: web.Request) -> web.Response:
    """Renewal without a link: the current key signs the challenge, certificate and CSR; or
    the current certificate is the TLS client certificate, and the body is only the CSR."""
    data = await read_json(request)
    presented = client_certificate(request)
    proof = ("certificate", "challenge", "signature")
    if presented is not None and "signature" not in data:
        csr = require_str(data, "csr", max_length=MAX_CSR_BYTES)
        issued = await request.config_dict[KEY_RENEWAL].renew_by_certificate(
            presented, key=csr.encode(), delivery=Delivery.CSR
        )
        return renewed_response(issued)
    if not all(name in data for name in proof):
        raise ClientCertificateRequired(
            "Renewal without a link needs a proof of the current key: connect to certdesk's "
            "HTTPS address with the current certificate as the TLS client certificate (then "
            "the CSR is enough), or send certificate, challenge and signature (`certdesk token "
            "renew` does)."
        )
    issued = await request.config_dict[KEY_RENEWAL].renew_by_possession(
        certificate=require_str(data, "certificate", max_length=MAX_CERTIFICATE_CHARS),
        csr=require_str(data, "csr", max_length=MAX_CSR_BYTES),
        challenge=require_str(data, "challenge", max_length=128),
        signature=require_str(data, "signature", max_length=MAX_SIGNATURE_CHARS),
    )
    return renewed_response(issued)


async def ca_pem(request: web.Request) -> web.Response:
    return web.Response(
        body=request.config_dict[ISSUING_CA].chain_pem(),
        content_type="application/x-pem-file",
        headers={"Cache-Control": "public, max-age=300"},
    )


async def ca_cer(request: web.Request) -> web.Response:
    """The issuing CA's certificate alone, DER: what the caIssuers URL of issued certificates'
    Authority Information Access names (RFC 5280 4.2.2.1 asks for DER there, not PEM)."""
    return web.Response(
        body=request.config_dict[ISSUING_CA].certificate.public_bytes(serialization.Encoding.DER),
        content_type="application/pkix-cert",
        headers={"Cache-Control": "public, max-age=300"},
    )


async def crl(request: web.Request) -> web.Response:
    return web.Response(
        body=await request.config_dict[REVOCATION].current_crl(),
        content_type="application/pkix-crl",
        headers={"Cache-Control": "no-cache"},
    )


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(openapi_document(request.config_dict[ENROLLMENT_CONFIG].public_url))


def api_app() -> web.Application:
    """The JSON API as a sub-application, mounted at ``/api/``, with its own error boundary."""
    api = web.Application(middlewares=[api_errors])
    api.router.add_post("/v1/enroll/{token}", enroll)
    api.router.add_post("/v1/enroll/{token}/pkcs12", enroll_pkcs12)
    api.router.add_post("/v1/renew/{token}", renew)
    api.router.add_post("/v1/renew/{token}/pkcs12", renew_pkcs12)
    api.router.add_post("/v1/renew-challenge", renew_challenge)
    api.router.add_post("/v1/renew", renew_by_possession)
    api.router.add_get(OPENAPI_PATH.removeprefix("/api"), openapi)
    return api


def json_errors(handler: Handler) -> Handler:
    """The API's error boundary around one handler of the main application."""

    async def bounded(request: web.Request) -> web.StreamResponse:
        return await api_errors(request, handler)

    return bounded


def add_routes(app: web.Application) -> None:
    """The API under ``/api/`` (a sub-application) and the CA's ``/ca.pem``, ``/ca.cer`` and
    ``/crl`` (their errors, an unusable HSM key signing the CRL say, answer as the API's do)."""
    app.add_subapp("/api/", api_app())
    app.router.add_get("/ca.pem", json_errors(ca_pem))
    app.router.add_get("/ca.cer", json_errors(ca_cer))
    app.router.add_get("/crl", json_errors(crl))
