"""``POST /.well-known/cmp``: CMP over HTTP (RFC 6712) for ``openssl cmp`` and other clients.

Thin: the message work is in :mod:`enrollment.protocols.cmp` (pure), the RA's behind
:class:`CmpDomain`, which names only the calls made here. Every answer is a DER PKIMessage: a
CMP-level refusal is PKIStatusInfo ``rejection`` with HTTP 200 (so clients read it); an
HTTP-level one (wrong content type, body too large, not DER) the same message with 415 / 413 /
400.
Answers to requests that did not authenticate are unprotected (a MAC under the real code must
not be handed to someone who does not know it, and the CA key signs nothing for a stranger: a
kur or certConf signed by a certificate that is not ours is answered unprotected too); all
others carry the client's own protection.

The message work (decoding, the POPO signature, the MAC, encoding and signing answers) runs in
a thread, never on the event loop; the database is asked only afterwards.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import ParamSpec, Protocol, TypeVar

from aiohttp import web
from cryptography import x509

from common.errors import CertdeskError
from common.time import utcnow
from enrollment.ca.authority import IssuingCA
from enrollment.errors import (
    CertificateNotActive,
    CertificateNotFound,
    CodeNotDerivable,
    CredentialsRefused,
    CsrMalformed,
    CsrSignatureInvalid,
    EnrollmentLocked,
    EnrollmentNotFound,
    EnrollmentNotPending,
    KeyNotAllowed,
    PolicyError,
    RequestTooLarge,
    WrongCredentials,
)
from enrollment.models import Certificate, CertificateStatus, Delivery, Enrollment
from enrollment.protocols import cmp
from enrollment.protocols.cmp import CmpError, FailInfo
from enrollment.ratelimit import WindowLimiter
from enrollment.services.by_reference import CodeProof
from enrollment.services.results import IssuedCertificate, KeyMaterial, ProvenKey
from enrollment.web.body import read_request

log = logging.getLogger(__name__)

# The CMP message work (pyasn1 decoding and encoding, signatures, the PBM) is pure Python: run
# in one worker thread, a flood of CMP requests queues there instead of taking the GIL from the
# event loop in several threads at once (on one core, each extra CPU-bound thread makes every
# loop step wait longer for the GIL).
_WORKER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cmp")
_P = ParamSpec("_P")
_R = TypeVar("_R")


async def _off_loop(work: Callable[_P, _R], *args: _P.args, **kwargs: _P.kwargs) -> _R:
    return await asyncio.get_running_loop().run_in_executor(
        _WORKER, functools.partial(work, *args, **kwargs)
    )


def _in_worker(check: cmp.MacCheck) -> Callable[[str], bool]:
    """The MAC check, run in the CMP worker (the domain calls it from its own thread)."""
    return lambda code: _WORKER.submit(check, code).result()


PATH = "/.well-known/cmp"


class CmpEnrollment(Protocol):
    """First certificates for clients that prove the enrollment's derived code (ir/cr/p10cr)."""

    async def redeem_with_derived_code(
        self,
        reference_number: str,
        *,
        proves_code: CodeProof,
        key: KeyMaterial,
        delivery: Delivery = ...,
        via: str = ...,
    ) -> IssuedCertificate: ...

    async def authenticate_with_derived_code(
        self, reference_number: str, *, proves_code: CodeProof
    ) -> tuple[Enrollment, list[Certificate]]: ...

    def transaction_nonce(self, transaction_id: bytes, serial: str) -> bytes: ...


class CmpRenewal(Protocol):
    """Key update (kur) and its certConf."""

    async def renew_by_certificate(
        self, certificate: x509.Certificate, *, key: KeyMaterial, delivery: Delivery = ...
    ) -> IssuedCertificate: ...

    async def successor_of(self, certificate: x509.Certificate) -> Certificate | None: ...


class CmpRevocation(Protocol):
    """Revoking a certificate its client rejected in the certConf, or its holder's rr; the
    holder's certificate as stored; the current CRL (genm)."""

    async def revoke(self, serial: str, *, reason: str, actor: str) -> Certificate: ...

    async def revoke_certificate(
        self, certificate: x509.Certificate, *, reason: str, actor: str
    ) -> Certificate: ...

    async def issued_here(self, certificate: x509.Certificate) -> Certificate | None: ...

    async def current_crl(self) -> bytes: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class CmpDomain:
    """All the CMP endpoint asks of the enrollment domain."""

    ca: IssuingCA
    max_failed_attempts: int
    enrollment: CmpEnrollment
    renewal: CmpRenewal
    revocation: CmpRevocation


DOMAIN = web.AppKey("cmp_domain", CmpDomain)
# CMP messages handled at once (the rest wait their turn, bodies read): a flood of anonymous
# CMP requests then costs the event loop and the GIL a bounded share, whatever it sends.
MAX_IN_FLIGHT = 1
_IN_FLIGHT = web.AppKey("cmp_in_flight", asyncio.Semaphore)
# Requests that did not prove a code, per source address (in memory, per process; see
# enrollment/ratelimit.py): past the limit, 429 with Retry-After before any work is done.
FAILURES_PER_SOURCE = 20
FAILURE_WINDOW = timedelta(minutes=15)
SOURCE_FAILURES = web.AppKey("cmp_source_failures", WindowLimiter)


class CodeNotProven(CmpError):
    """The one answer to an unknown reference number, a wrong code and a locked enrollment."""


def _answer(der: bytes, status: int = 200) -> web.Response:
    return web.Response(
        body=der,
        status=status,
        content_type=cmp.CONTENT_TYPE,
        headers={"Cache-Control": "no-store"},
    )


def _responder(domain: CmpDomain) -> cmp.Responder:
    return cmp.Responder(sender=domain.ca.certificate.subject, chain=domain.ca.chain)


def _wrong_credentials(domain: CmpDomain) -> CmpError:
    # The same answer for an unknown reference number and a wrong code (no enumeration).
    return CodeNotProven(
        FailInfo.BAD_MESSAGE_CHECK,
        "The reference number (-ref) or the authorization code (-secret pass:…) is wrong. "
        "Check both against the message from your RA (the code in capitals, as printed; the "
        "dashes may be left out); after "
        f"{domain.max_failed_attempts} wrong codes, this reference number is refused for 15 "
        "minutes.",
    )


def _locked(reference: str) -> CmpError:
    return CmpError(
        FailInfo.NOT_AUTHORIZED,
        f"Enrollment {reference} is locked after too many wrong authorization codes. "
        f"RA staff must run `certdesk ra unlock {reference}` (or `/ra unlock {reference}` in "
        "Slack) before you try again.",
    )


# What the domain raises when a request did not prove the authorization code: answered
# unprotected, before any other error (which may carry the client's own protection).
NOT_PROVEN = (
    CredentialsRefused,
    EnrollmentNotFound,
    WrongCredentials,
    EnrollmentLocked,
    CodeNotDerivable,
)


def _refused(
    domain: CmpDomain,
    error: CredentialsRefused
    | EnrollmentNotFound
    | WrongCredentials
    | EnrollmentLocked
    | CodeNotDerivable,
) -> CmpError:
    if isinstance(error, EnrollmentLocked):
        return _locked(error.reference_number)
    if isinstance(error, CodeNotDerivable):
        return CmpError(FailInfo.NOT_AUTHORIZED, error.message)
    return _wrong_credentials(domain)


def _fail_info(error: CertdeskError) -> FailInfo:
    if isinstance(error, CsrSignatureInvalid):
        return FailInfo.BAD_POP
    if isinstance(error, CsrMalformed):
        return FailInfo.BAD_DATA_FORMAT
    if isinstance(error, KeyNotAllowed):
        return FailInfo.BAD_CERT_TEMPLATE
    if isinstance(error, EnrollmentNotPending | PolicyError):
        return FailInfo.NOT_AUTHORIZED
    if isinstance(error, CertificateNotFound):
        return FailInfo.SIGNER_NOT_TRUSTED
    if isinstance(error, CertificateNotActive):
        return FailInfo.CERT_REVOKED
    return FailInfo.BAD_REQUEST


def _reference(message: cmp.CmpRequest) -> str:
    reference = message.reference
    if not reference:
        raise CmpError(
            FailInfo.BAD_MESSAGE_CHECK,
            "The request names no reference number: run openssl cmp with -ref REFERENCE "
            "-secret pass:AUTHORIZATION-CODE.",
        )
    return reference


def _protection(message: cmp.CmpRequest, check: cmp.MacCheck) -> cmp.Protection:
    return cmp.Protection(secret=check.secret, pbm=message.mac_parameters)


async def _enroll(domain: CmpDomain, message: cmp.CmpRequest) -> bytes:
    reference = _reference(message)
    check = cmp.MacCheck(message)
    # POPO checked (in a thread: a signature verification) before anything is looked up
    request = await _off_loop(cmp.cert_request, message)
    key: ProvenKey | bytes
    if request.public_key is not None:
        key = ProvenKey(public_key=request.public_key)
    else:
        assert request.csr is not None
        key = request.csr
    outcome: IssuedCertificate | CertdeskError
    try:
        outcome = await domain.enrollment.redeem_with_derived_code(
            reference, proves_code=_in_worker(check), key=key
        )
    except NOT_PROVEN as exc:
        raise _refused(domain, exc) from None
    except CertdeskError as exc:  # the sender proved the code: a protected answer
        outcome = exc
    return await _issued_answer(
        domain, message, request.cert_req_id, outcome, _protection(message, check)
    )


async def _issued_answer(
    domain: CmpDomain,
    message: cmp.CmpRequest,
    cert_req_id: int,
    outcome: IssuedCertificate | CertdeskError,
    protection: cmp.Protection,
) -> bytes:
    """The issued certificate's answer (ip, cp, kup), or the rejection of a refused request."""
    responder = _responder(domain)
    if isinstance(outcome, CertdeskError):
        return await _off_loop(
            responder.rejection,
            message,
            _fail_info(outcome),
            outcome.message,
            protection=protection,
        )
    return await _off_loop(
        responder.certificate,
        message,
        certificate=outcome.certificate,
        cert_req_id=cert_req_id,
        sender_nonce=domain.enrollment.transaction_nonce(message.transaction_id, outcome.serial),
        protection=protection,
    )


def _signed_by_ca(domain: CmpDomain) -> cmp.Protection:
    return cmp.Protection(signer=domain.ca.private_key, signer_chain=domain.ca.chain)


async def _key_update(domain: CmpDomain, message: cmp.CmpRequest) -> bytes:
    """kur: signed with the current certificate's key; the answer is signed by the CA."""
    if message.mac_protected:
        raise CmpError(
            FailInfo.BAD_MESSAGE_CHECK,
            "Key update must be signed with the current certificate's key: openssl cmp -cmd kur "
            "-cert cert.pem -key key.pem (not -secret).",
        )
    signer = await _off_loop(cmp.verify_signature_protection, message)
    cmp.check_message_time(message, utcnow())
    request = await _off_loop(cmp.cert_request, message)
    if request.old_cert_serial is not None and request.old_cert_serial != signer.serial_number:
        raise CmpError(
            FailInfo.BAD_CERT_ID, "The oldCertID is not the certificate that signed the request."
        )
    assert request.public_key is not None
    outcome: IssuedCertificate | CertdeskError
    try:
        outcome = await domain.renewal.renew_by_certificate(
            signer, key=ProvenKey(public_key=request.public_key)
        )
    except CertificateNotFound as exc:  # signed by a key that is not one of ours: unproven
        raise CmpError(FailInfo.SIGNER_NOT_TRUSTED, exc.message) from None
    except CertdeskError as exc:
        outcome = exc
    return await _issued_answer(
        domain, message, request.cert_req_id, outcome, _signed_by_ca(domain)
    )


async def _confirm_signed(domain: CmpDomain, message: cmp.CmpRequest) -> bytes:
    """certConf after a kur, signed (like the kur) with the replaced certificate's key."""
    signer = await _off_loop(cmp.verify_signature_protection, message)
    successor = await domain.renewal.successor_of(signer)
    if successor is None:  # not one of ours, or nothing renewed it: unproven, unprotected
        raise CmpError(
            FailInfo.BAD_CERT_ID,
            "The certConf is signed by a certificate this CA has not renewed; confirm with the "
            "certificate that signed the kur.",
        )
    return await _confirmed(domain, message, [successor], _signed_by_ca(domain), actor="kur")


async def _confirmed(
    domain: CmpDomain,
    message: cmp.CmpRequest,
    certificates: list[Certificate],
    protection: cmp.Protection,
    *,
    actor: str,
) -> bytes:
    responder = _responder(domain)
    by_hash = {
        cmp.cert_hash(x509.load_pem_x509_certificate(c.pem.encode())): c for c in certificates
    }
    for confirmation in cmp.confirmations(message):
        record = by_hash.get(confirmation.cert_hash)
        if record is None:
            return await _off_loop(
                responder.rejection,
                message,
                FailInfo.BAD_CERT_ID,
                "The certConf's certHash matches no certificate of this transaction.",
                protection=protection,
            )
        expected = domain.enrollment.transaction_nonce(message.transaction_id, record.serial)
        if message.recip_nonce != expected:
            return await _off_loop(
                responder.rejection,
                message,
                FailInfo.BAD_RECIPIENT_NONCE,
                "The certConf's recipNonce or transactionID does not belong to this "
                "certificate's transaction.",
                protection=protection,
            )
        if not confirmation.accepted and record.status == CertificateStatus.ACTIVE:
            # The client rejected the certificate (RFC 4210 5.3.18): it must not stay valid.
            await domain.revocation.revoke(
                record.serial, reason="cessationOfOperation", actor=actor
            )
    return await _off_loop(responder.pki_conf, message, protection=protection)


async def _confirm(domain: CmpDomain, message: cmp.CmpRequest) -> bytes:
    if not message.mac_protected and message.protection is not None:
        return await _confirm_signed(domain, message)
    reference = _reference(message)
    check = cmp.MacCheck(message)
    # malformed content is refused before the database is asked
    await _off_loop(cmp.confirmations, message)
    try:
        enrollment, certificates = await domain.enrollment.authenticate_with_derived_code(
            reference, proves_code=_in_worker(check)
        )
    except NOT_PROVEN as exc:
        raise _refused(domain, exc) from None
    return await _confirmed(
        domain,
        message,
        certificates,
        _protection(message, check),
        actor=f"cmp:{enrollment.reference_number}",
    )


async def _dispatch(domain: CmpDomain, message: cmp.CmpRequest) -> bytes:
    kind = message.body_type
    if kind in ("ir", "cr", "p10cr"):
        return await _enroll(domain, message)
    if kind == "certConf":
        return await _confirm(domain, message)
    if kind == "kur":
        return await _key_update(domain, message)
    if kind == "rr":
        return await _revoke(domain, message)
    if kind == "genm":
        return await _general(domain, message)
    raise CmpError(
        FailInfo.BAD_REQUEST,
        f"The CMP message type {kind} is not supported here: certdesk answers ir, cr, p10cr, "
        "kur, certConf, rr and genm.",
    )


async def _revoke(domain: CmpDomain, message: cmp.CmpRequest) -> bytes:
    """rr, signed with the key of the certificate it revokes (RFC 9483 4.2); the rp is signed
    by the CA. A signature that does not verify with the certificate the request carries is
    ``badMessageCheck`` (the message is not what its sender signed); a valid signature by any
    other certificate than the one named is ``notAuthorized`` (a holder revokes only their
    own certificate); both are answered unprotected and change nothing."""
    if message.mac_protected or message.protection is None:
        raise CmpError(
            FailInfo.NOT_AUTHORIZED,
            "A revocation request must be signed with the key of the certificate to revoke: "
            "openssl cmp -cmd rr -cert cert.pem -key key.pem -oldcert cert.pem (not -secret). "
            "Without that key, ask RA staff to run `certdesk ra revoke SERIAL`.",
        )
    signer = await _off_loop(cmp.verify_signature_protection, message)
    cmp.check_message_time(message, utcnow())
    wanted = await _off_loop(cmp.revocation_request, message)
    if not wanted.names(signer):
        raise CmpError(
            FailInfo.NOT_AUTHORIZED,
            "The request is signed by another certificate than the one it asks to revoke: sign "
            "with the key of the certificate to revoke (-cert and -oldcert the same). RA staff "
            "revoke any certificate with `certdesk ra revoke SERIAL`.",
        )
    protection = _signed_by_ca(domain)
    try:
        await domain.revocation.revoke_certificate(
            signer, reason=wanted.reason.value, actor="cmp:rr"
        )
    except CertificateNotFound as exc:  # signed by a certificate that is not ours: unproven
        raise CmpError(FailInfo.SIGNER_NOT_TRUSTED, exc.message) from None
    except CertdeskError as exc:  # already revoked: the holder proved the key, a signed answer
        return await _off_loop(
            _responder(domain).rejection,
            message,
            _fail_info(exc),
            exc.message,
            protection=protection,
        )
    return await _off_loop(_responder(domain).revoked, message, protection=protection)


async def _general(domain: CmpDomain, message: cmp.CmpRequest) -> bytes:
    """genm (RFC 9483 4.3). What it returns is public (the CA certificates, the CRL, the key
    policy), so an unprotected genm is answered too, unprotected; a MAC-protected one must
    prove an enrollment's code and is answered under the same secret; a signed one must come
    from a current certdesk certificate and is answered signed by the CA."""
    items = await _off_loop(cmp.info_requests, message)
    protection: cmp.Protection | None = None
    if message.mac_protected:
        reference = _reference(message)
        check = cmp.MacCheck(message)
        try:
            await domain.enrollment.authenticate_with_derived_code(
                reference, proves_code=_in_worker(check)
            )
        except NOT_PROVEN as exc:
            raise _refused(domain, exc) from None
        protection = _protection(message, check)
    elif message.protection is not None:
        signer = await _off_loop(cmp.verify_signature_protection, message)
        cmp.check_message_time(message, utcnow())
        record = await domain.revocation.issued_here(signer)
        current = record is not None and record.status == CertificateStatus.ACTIVE
        if record is None or not current or record.not_after <= utcnow():
            raise CmpError(
                FailInfo.SIGNER_NOT_TRUSTED,
                "The genm is signed by a certificate that is not a current certificate of this "
                "CA. Sign with your current certdesk certificate, or protect the request with "
                "-ref REFERENCE -secret pass:AUTHORIZATION-CODE.",
            )
        protection = _signed_by_ca(domain)
    crl = await domain.revocation.current_crl() if cmp.needs_crl(items) else None
    answers = await _off_loop(cmp.general_answers, items, chain=domain.ca.chain, crl=crl)
    return await _off_loop(_responder(domain).general, message, answers, protection=protection)


async def _unprotected(
    responder: cmp.Responder, message: cmp.CmpRequest | None, error: CmpError
) -> web.Response:
    answer = await _off_loop(responder.rejection, message, error.fail_info, error.text)
    return _answer(answer, error.http_status)


async def cmp_endpoint(request: web.Request) -> web.Response:
    domain = request.app[DOMAIN]
    responder = _responder(domain)
    if request.content_type != cmp.CONTENT_TYPE:
        error = CmpError(
            FailInfo.BAD_DATA_FORMAT,
            f"The content type must be {cmp.CONTENT_TYPE} (RFC 6712).",
            http_status=415,
        )
        return await _unprotected(responder, None, error)
    limit = cmp.MAX_MESSAGE_BYTES
    try:
        body = await read_request(request, limit=limit)
    except RequestTooLarge:
        error = CmpError(
            FailInfo.BAD_DATA_FORMAT,
            f"The CMP message is over {limit // 1024} KiB.",
            http_status=413,
        )
        return await _unprotected(responder, None, error)
    failures = request.app[SOURCE_FAILURES]
    source = request.remote or "unknown"
    retry_after = failures.retry_after(source)
    if retry_after is not None:
        text = (
            "Too many wrong reference numbers or codes from your address. Wait "
            f"{retry_after} seconds, then check both against the message from your RA."
        )
        error = CmpError(FailInfo.NOT_AUTHORIZED, text, http_status=429)
        response = await _unprotected(responder, None, error)
        response.headers["Retry-After"] = str(retry_after)
        return response
    async with request.app[_IN_FLIGHT]:  # bodies are read outside: a slow sender holds no turn
        return await _handle(domain, responder, body, refused=lambda: failures.hit(source))


async def _handle(
    domain: CmpDomain, responder: cmp.Responder, body: bytes, *, refused: Callable[[], None]
) -> web.Response:
    """Parse and answer one message; ``refused()`` counts a request that proved no code."""
    try:
        message = await _off_loop(cmp.parse, body)
    except CmpError as exc:
        return await _unprotected(responder, None, exc)
    try:
        return _answer(await _dispatch(domain, message))
    except CmpError as exc:
        if isinstance(exc, CodeNotProven):
            refused()
        log.info("cmp request refused", extra={"fail_info": exc.fail_info.name})
        return await _unprotected(responder, message, exc)


def add_routes(app: web.Application) -> None:
    app[_IN_FLIGHT] = asyncio.Semaphore(MAX_IN_FLIGHT)
    app[SOURCE_FAILURES] = WindowLimiter(limit=FAILURES_PER_SOURCE, window=FAILURE_WINDOW)
    app.router.add_post(PATH, cmp_endpoint)
