"""Is a certificate on the USB key revoked? Asked of the CA's OCSP responder (RFC 6960) at the
address the certificate itself names (Authority Information Access), with a nonce. Blocking.

An answer counts only when it is about this certificate, carries the nonce sent, is current,
and is signed by the issuing CA or by a responder certificate the issuing CA signed for OCSP
(id-kp-OCSPSigning). Anything else, and a responder that cannot be reached, is "not checked",
with the reason: the holder is never told "not revoked" on an answer that was not proven.
"""

from __future__ import annotations

import http.client
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID

from usbkey.certificates import extension

TIMEOUT_SECONDS = 5.0
MAX_RESPONSE_BYTES = 64 * 1024
CLOCK_SKEW = timedelta(minutes=5)

Status = Literal["good", "revoked", "unknown", "not_checked"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Revocation:
    """What the responder said. For ``not_checked``, ``why`` names what stood in the way (the
    key of its text in usbkey/messages.toml, ``text.revocation.why.*``) and ``details`` fill
    that text in."""

    status: Status
    revoked_at: datetime | None = None
    reason: str | None = None
    why: str | None = None
    details: tuple[tuple[str, str], ...] = ()


def not_checked(why: str, **details: str) -> Revocation:
    return Revocation(status="not_checked", why=why, details=tuple(details.items()))


def responder_url(certificate: x509.Certificate) -> str | None:
    """The first http(s) OCSP address in the certificate's Authority Information Access."""
    for description in extension(certificate, x509.AuthorityInformationAccess) or []:
        location = description.access_location
        if (
            description.access_method == AuthorityInformationAccessOID.OCSP
            and isinstance(location, x509.UniformResourceIdentifier)
            and location.value.startswith(("http://", "https://"))
        ):
            return location.value
    return None


def issuer_of(
    certificate: x509.Certificate, candidates: list[x509.Certificate]
) -> x509.Certificate | None:
    """The candidate that signed ``certificate`` (the CA chain stored beside it on the key)."""
    for candidate in candidates:
        if candidate.subject != certificate.issuer:
            continue
        try:
            certificate.verify_directly_issued_by(candidate)
        except (ValueError, TypeError, InvalidSignature):
            continue
        return candidate
    return None


def check(certificate: x509.Certificate, issuer: x509.Certificate, *, now: datetime) -> Revocation:
    """Ask the responder ``certificate`` names whether it is revoked."""
    url = responder_url(certificate)
    if url is None:
        return not_checked("no_responder")
    request = (
        ocsp.OCSPRequestBuilder()
        .add_certificate(certificate, issuer, hashes.SHA256())
        .add_extension(x509.OCSPNonce(os.urandom(16)), critical=False)
        .build()
    )
    try:
        body = _post(url, request.public_bytes(serialization.Encoding.DER))
    except urllib.error.HTTPError as exc:
        return not_checked("http_status", url=url, status=str(exc.code))
    except (OSError, http.client.HTTPException) as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        return not_checked("unreachable", url=url, reason=str(reason) or type(exc).__name__)
    return judged(body, request, issuer, now=now, url=url)


def _post(url: str, data: bytes) -> bytes:
    request = urllib.request.Request(  # noqa: S310 (http or https, checked by responder_url)
        url, data=data, method="POST", headers={"Content-Type": "application/ocsp-request"}
    )
    with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as answer:  # noqa: S310
        body: bytes = answer.read(MAX_RESPONSE_BYTES + 1)
    if len(body) > MAX_RESPONSE_BYTES:
        raise OSError(f"it sent over {MAX_RESPONSE_BYTES} bytes")
    return body


def judged(
    body: bytes, request: ocsp.OCSPRequest, issuer: x509.Certificate, *, now: datetime, url: str
) -> Revocation:
    """What the answer ``body`` from ``url`` proves of the certificate ``request`` asks about,
    or why it does not count. Pure."""
    try:
        response = ocsp.load_der_ocsp_response(body)
    except ValueError:
        return not_checked("not_ocsp", url=url)
    try:
        return _proven(response, request, issuer, now)
    except (ValueError, UnsupportedAlgorithm):  # a field cryptography cannot read
        return not_checked("unreadable")


def _proven(
    response: ocsp.OCSPResponse,
    request: ocsp.OCSPRequest,
    issuer: x509.Certificate,
    now: datetime,
) -> Revocation:
    if response.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
        return not_checked("refused", status=response.response_status.name.lower())
    single = next(
        (
            single
            for single in response.responses
            if single.serial_number == request.serial_number
            and single.issuer_key_hash == request.issuer_key_hash
            and single.issuer_name_hash == request.issuer_name_hash
        ),
        None,
    )
    if single is None:
        return not_checked("other_certificate")
    sent = extension(request, x509.OCSPNonce)
    echoed = extension(response, x509.OCSPNonce)
    if sent is None or echoed is None or echoed.nonce != sent.nonce:
        return not_checked("no_nonce")
    signer = _signer(response, issuer, now)
    if signer is None or not _signed_by(response, signer):
        return not_checked("not_signed")
    if single.this_update_utc > now + CLOCK_SKEW or (
        single.next_update_utc is not None and single.next_update_utc < now - CLOCK_SKEW
    ):
        return not_checked("out_of_date")
    if single.certificate_status == ocsp.OCSPCertStatus.GOOD:
        return Revocation(status="good")
    if single.certificate_status == ocsp.OCSPCertStatus.REVOKED:
        reason = single.revocation_reason
        return Revocation(
            status="revoked",
            revoked_at=single.revocation_time_utc,
            reason=reason.value if reason is not None else None,
        )
    return Revocation(status="unknown")


def _signer(
    response: ocsp.OCSPResponse, issuer: x509.Certificate, now: datetime
) -> x509.Certificate | None:
    """The issuing CA when it names itself, else an included certificate it made for OCSP."""
    if _names(response, issuer):
        return issuer
    for candidate in response.certificates:
        if not _names(response, candidate) or issuer_of(candidate, [issuer]) is None:
            continue
        if not candidate.not_valid_before_utc <= now <= candidate.not_valid_after_utc:
            continue
        usage = extension(candidate, x509.ExtendedKeyUsage)
        if usage is not None and ExtendedKeyUsageOID.OCSP_SIGNING in usage:
            return candidate
    return None


def _names(response: ocsp.OCSPResponse, certificate: x509.Certificate) -> bool:
    if response.responder_name is not None:
        return response.responder_name == certificate.subject
    key_hash = x509.SubjectKeyIdentifier.from_public_key(certificate.public_key()).digest
    return response.responder_key_hash == key_hash


def _signed_by(response: ocsp.OCSPResponse, signer: x509.Certificate) -> bool:
    key = signer.public_key()
    signature, data = response.signature, response.tbs_response_bytes
    algorithm = response.signature_hash_algorithm
    try:
        if isinstance(key, ec.EllipticCurvePublicKey) and algorithm is not None:
            key.verify(signature, data, ec.ECDSA(algorithm))
        elif isinstance(key, rsa.RSAPublicKey) and algorithm is not None:
            key.verify(signature, data, padding.PKCS1v15(), algorithm)
        elif isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
            key.verify(signature, data)
        else:
            return False
    except InvalidSignature:
        return False
    return True
