"""EST (RFC 7030) on ``/.well-known/est/...``: the CA chain and simple enrollment.

Authentication is HTTP Basic (RFC 7030 §3.2.3) with certdesk's own credential: user name = the
enrollment's reference number, password = its authorization code. Every check behind it (lock,
wrong-code counting, "issued once", the CSR rules, the subject from the record) is the
domain's ``redeem_by_reference`` (:class:`EstEnrollment`, all this module asks of it); this
module only speaks EST.

The first half is pure (bodies in, bytes out, no aiohttp); the second half is the handlers.
Errors are the API's JSON ``{"error": {"code", "message"}}`` with a 4xx status (EST clients show
the body as text, and a JSON body is still readable there), plus ``WWW-Authenticate`` on 401.

Operations: ``cacerts``, ``simpleenroll``, ``csrattrs`` (204: no attributes required),
``simplereenroll`` (RFC 7030 §4.2.2): authenticated by the TLS client certificate
(:mod:`enrollment.web.client_certificates`: certdesk's own TLS, or a proxy the operator
trusts), which must be a current certdesk certificate; the CSR must ask for the same subject
and, if it names any, the same subject alternative names (:func:`check_same_names`); the
domain's ``renew_by_certificate`` (:class:`EstReenrollment`) issues the successor, which says
what the old one says (subject, names, usages, profile: the record's), and supersedes it. An
optional label segment ``/.well-known/est/{profile}/...`` names a profile the enrollment must
have.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Protocol

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7

from common.errors import CertdeskError
from enrollment.ca.csr import parse_csr
from enrollment.ca.profiles import PROFILES
from enrollment.errors import (
    AuthenticationRequired,
    ClientCertificateRequired,
    CredentialsRefused,
    CsrMalformed,
    SubjectMismatch,
    UnsupportedMediaType,
)
from enrollment.models import Delivery
from enrollment.ratelimit import RateLimited, WindowLimiter
from enrollment.services.results import IssuedCertificate, KeyMaterial
from enrollment.web.api import ISSUING_CA, MAX_BODY_BYTES, error_json
from enrollment.web.body import read_request
from enrollment.web.client_certificates import client_certificate

log = logging.getLogger(__name__)

PREFIX = "/.well-known/est"
REALM = "certdesk EST"
PKCS10_TYPES = frozenset({"application/pkcs10", "application/x-pkcs10"})
CACERTS_TYPE = "application/pkcs7-mime"
CERTS_ONLY_TYPE = "application/pkcs7-mime; smime-type=certs-only"
MAX_CREDENTIAL_CHARS = 64
OPERATIONS = {
    "cacerts": "GET",
    "simpleenroll": "POST",
    "simplereenroll": "POST",
    "csrattrs": "GET",
}

_WHITESPACE = re.compile(rb"\s+")


class EstEnrollment(Protocol):
    """The one call EST makes to the enrollment domain; ``ReferenceRedemption`` in
    :mod:`enrollment.services.by_reference` provides it."""

    async def redeem_by_reference(
        self,
        reference_number: str,
        *,
        authorization_code: str,
        csr: str | bytes,
        delivery: str = ...,
        via: str = ...,
        profile: str | None = ...,
    ) -> IssuedCertificate: ...


class EstReenrollment(Protocol):
    """Renewal for a holder authenticated by their current certificate; ``KeyRenewal`` in
    :mod:`enrollment.services.key_renewal` provides it."""

    async def renew_by_certificate(
        self, certificate: x509.Certificate, *, key: KeyMaterial, delivery: Delivery = ...
    ) -> IssuedCertificate: ...


ENROLLMENT = web.AppKey[EstEnrollment]("est_enrollment")
REENROLLMENT = web.AppKey[EstReenrollment]("est_reenrollment")
# Refused credentials per source address (in memory, per process; see enrollment/ratelimit.py).
FAILURES_PER_SOURCE = 20
FAILURE_WINDOW = timedelta(minutes=15)
SOURCE_FAILURES = web.AppKey("est_source_failures", WindowLimiter)

# -- pure: EST bodies and headers ----------------------------------------------------------


def certs_only(certificates: Sequence[x509.Certificate]) -> bytes:
    """A certs-only PKCS#7 (CMC Simple PKI Response), DER, base64 in 76-character lines."""
    der = pkcs7.serialize_certificates(list(certificates), serialization.Encoding.DER)
    return base64.encodebytes(der)


def decode_pkcs10(body: bytes) -> bytes:
    """The CSR in an EST request body: base64 DER (whitespace anywhere), or a PEM block.

    Returns DER, or the PEM block as given; the CSR itself is checked by the service. Raises
    :class:`CsrMalformed` saying which of the two forms was expected.
    """
    text = body.strip()
    if not text:
        raise CsrMalformed(
            "The request body is empty. Send the CSR as base64-encoded DER (RFC 7030), e.g. "
            "`openssl req -new … -outform DER | base64`."
        )
    if text.startswith(b"-----BEGIN"):
        if b"CERTIFICATE REQUEST-----" not in text:
            raise CsrMalformed(
                "This PEM block is not a certificate request: expected "
                "'-----BEGIN CERTIFICATE REQUEST-----', or send base64-encoded DER."
            )
        return text
    try:
        der = base64.b64decode(_WHITESPACE.sub(b"", text), validate=True)
    except (binascii.Error, ValueError):
        raise CsrMalformed(
            "The request body is neither base64-encoded DER (what RFC 7030 asks for) nor a PEM "
            "certificate request. Send the output of `openssl req -new … -outform DER | base64`."
        ) from None
    if not der:
        raise CsrMalformed("The request body decodes to nothing. Send the CSR, base64-encoded DER.")
    return der


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    """``(user, password)`` from an ``Authorization: Basic …`` header, or None if unusable."""
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    user, colon, password = decoded.partition(":")
    if not colon or not user or not password:
        return None
    if len(user) > MAX_CREDENTIAL_CHARS or len(password) > MAX_CREDENTIAL_CHARS:
        return None
    return user, password


def authentication_required() -> AuthenticationRequired:
    return AuthenticationRequired(
        "EST enrollment needs HTTP Basic authentication: user name = your reference number, "
        "password = your authorization code (e.g. `curl --user REFERENCE:CODE …`)."
    )


def check_same_names(csr: bytes, certificate: x509.Certificate) -> None:
    """RFC 7030 §4.2.2: a re-enrollment asks for the current certificate's subject, and for its
    subject alternative names if it names any (a CSR without them keeps the current ones). The
    rest of the CSR (key usages, extended key usages, basic constraints …) is ignored, as on a
    first enrollment: the successor says what the current certificate says. Parses ASN.1:
    call it off the event loop."""
    request = parse_csr(csr)
    if request.subject != certificate.subject:
        raise SubjectMismatch(
            "A re-enrollment CSR must ask for the same subject as your current certificate "
            f"({certificate.subject.rfc4514_string()}). Make the CSR with that subject, e.g. "
            '`openssl req -new -key key.pem -subj "$(openssl x509 -in cert.pem -noout '
            "-subject -nameopt compat | sed 's/^subject=//')\"`."
        )
    try:
        asked = _alternative_names(request.extensions)
    except (ValueError, x509.DuplicateExtension, x509.UnsupportedGeneralNameType):  # no ValueError
        raise CsrMalformed(
            "The CSR's extensions cannot be read. Make the CSR again without hand-written "
            "extensions, e.g. `openssl req -new -key key.pem -subj …`."
        ) from None
    current = _alternative_names(certificate.extensions) or []
    if asked is not None and sorted(asked) != sorted(current):
        raise SubjectMismatch(
            "A re-enrollment CSR may name only your current certificate's subject alternative "
            f"names ({', '.join(sorted(current)) or 'none'}); this one asks for "
            f"{', '.join(sorted(asked)) or 'none'}. Leave subjectAltName out of the CSR (the "
            "new certificate keeps the current names), or ask RA staff for a new enrollment "
            "to change them."
        )


def _alternative_names(extensions: x509.Extensions) -> list[str] | None:
    """The subject alternative names as ``DNS:…``, ``email:…``, ``IP:…``, ``URI:…`` (None:
    no such extension)."""
    try:
        names = extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    prefixes: dict[type[x509.GeneralName], str] = {
        x509.DNSName: "DNS",
        x509.RFC822Name: "email",
        x509.IPAddress: "IP",
        x509.UniformResourceIdentifier: "URI",
    }
    return [f"{prefixes.get(type(name), type(name).__name__)}:{name.value}" for name in names]


def check_label(label: str | None) -> str | None:
    """The profile an EST label names (None without a label); unknown labels are 404."""
    if label is None:
        return None
    if label not in PROFILES:
        known = ", ".join(sorted(PROFILES))
        raise CertdeskError(
            f"The EST label {label!r} is not known. Leave it out, or use a profile name: {known}.",
            code="not_found",
            status=404,
        )
    return label


def operation_error(operation: str, method: str) -> CertdeskError:
    """Why ``method`` on the EST path ``operation`` is not served (404 or 405)."""
    if OPERATIONS.get(operation) is None:
        offered = ", ".join(f"{m} {PREFIX}/{op}" for op, m in OPERATIONS.items())
        return CertdeskError(
            f"certdesk's EST server does not offer {operation!r}. It offers: {offered}.",
            code="not_found",
            status=404,
        )
    return CertdeskError(
        f"{PREFIX}/{operation} takes {OPERATIONS[operation]}, not {method}.",
        code="method_not_allowed",
        status=405,
    )


# -- aiohttp handlers ----------------------------------------------------------------------

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _est(handler: Handler) -> Handler:
    """Domain errors become the API's JSON errors; 401 adds the Basic challenge."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except CertdeskError as exc:
            log.info("est request refused", extra={"code": exc.code})
            response = error_json(exc, request)
            if exc.status == 401 and not isinstance(exc, ClientCertificateRequired):
                response.headers["WWW-Authenticate"] = f'Basic realm="{REALM}", charset="UTF-8"'
            if exc.status == 405:
                operation = request.path.rstrip("/").rsplit("/", 1)[-1]
                response.headers["Allow"] = OPERATIONS.get(operation, "")
            return response

    return wrapped


@_est
async def cacerts(request: web.Request) -> web.Response:
    check_label(request.match_info.get("label"))
    return web.Response(
        body=certs_only(request.app[ISSUING_CA].chain),
        headers={"Content-Type": CACERTS_TYPE, "Content-Transfer-Encoding": "base64"},
    )


@_est
async def simpleenroll(request: web.Request) -> web.Response:
    profile = check_label(request.match_info.get("label"))
    credentials = basic_credentials(request.headers.get("Authorization"))
    if credentials is None:
        raise authentication_required()
    if request.content_type not in PKCS10_TYPES:
        raise UnsupportedMediaType(
            f"The body's content type is {request.content_type!r}; send the CSR with "
            "`Content-Type: application/pkcs10`, base64-encoded DER."
        )
    csr = decode_pkcs10(await read_request(request, limit=MAX_BODY_BYTES))
    reference_number, authorization_code = credentials
    failures = request.app[SOURCE_FAILURES]
    source = request.remote or "unknown"
    retry_after = failures.retry_after(source)
    if retry_after is not None:
        raise RateLimited(
            f"Too many wrong reference numbers or codes from your address. Wait {retry_after} "
            "seconds, then check both against the message from your RA and try again.",
            retry_after=retry_after,
        )
    try:
        issued = await request.app[ENROLLMENT].redeem_by_reference(
            reference_number,
            authorization_code=authorization_code,
            csr=csr,
            delivery="csr",
            via="est",
            profile=profile,
        )
    except CredentialsRefused:
        failures.hit(source)
        raise
    return _issued_response(issued)


@_est
async def simplereenroll(request: web.Request) -> web.Response:
    check_label(request.match_info.get("label"))
    certificate = client_certificate(request)
    if certificate is None:
        raise ClientCertificateRequired(
            "EST re-enrollment is authenticated by your current certificate: connect to "
            "certdesk's HTTPS address with it, e.g. `curl --cert cert.pem --key key.pem …`. "
            'Without one, renew with a renewal link: ask the certdesk bot ("Renew").'
        )
    if request.content_type not in PKCS10_TYPES:
        raise UnsupportedMediaType(
            f"The body's content type is {request.content_type!r}; send the CSR with "
            "`Content-Type: application/pkcs10`, base64-encoded DER."
        )
    csr = decode_pkcs10(await read_request(request, limit=MAX_BODY_BYTES))
    await asyncio.to_thread(check_same_names, csr, certificate)
    issued = await request.app[REENROLLMENT].renew_by_certificate(
        certificate, key=csr, delivery=Delivery.CSR
    )
    return _issued_response(issued)


def _issued_response(issued: IssuedCertificate) -> web.Response:
    """The issued certificate as EST's certs-only answer (base64 DER, RFC 7030 section 4.2.3)."""
    return web.Response(
        body=certs_only([issued.certificate]),
        headers={"Content-Type": CERTS_ONLY_TYPE, "Content-Transfer-Encoding": "base64"},
    )


@_est
async def csrattrs(request: web.Request) -> web.Response:
    """No CSR attributes are required: the certificate's content comes from the enrollment."""
    check_label(request.match_info.get("label"))
    return web.Response(status=204)


@_est
async def unknown_operation(request: web.Request) -> web.Response:
    tail = request.match_info.get("tail", "").strip("/")
    operation = tail.rsplit("/", 1)[-1] if tail else ""
    raise operation_error(operation, request.method)


def add_routes(app: web.Application) -> None:
    """``/.well-known/est/{operation}`` and ``/.well-known/est/{label}/{operation}``."""
    app[SOURCE_FAILURES] = WindowLimiter(limit=FAILURES_PER_SOURCE, window=FAILURE_WINDOW)
    for prefix in (PREFIX, PREFIX + "/{label}"):
        app.router.add_get(f"{prefix}/cacerts", cacerts)
        app.router.add_post(f"{prefix}/simpleenroll", simpleenroll)
        app.router.add_post(f"{prefix}/simplereenroll", simplereenroll)
        app.router.add_get(f"{prefix}/csrattrs", csrattrs)
    # Last: wrong methods on the paths above (405 with Allow) and operations not offered (404).
    app.router.add_route("*", PREFIX + "{tail:(/.*)?}", unknown_operation)
