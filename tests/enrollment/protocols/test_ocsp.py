"""The OCSP responder in the whole application (SQLite and PostgreSQL), cryptography as client."""

from __future__ import annotations

import base64
import os
from datetime import timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from bot.runtime import Runtime
from common.time import utcnow
from enrollment.ca.ocsp_signer import SignerPolicy
from enrollment.protocols.ocsp import http as ocsp_http
from enrollment.protocols.ocsp.messages import parse_request
from enrollment.protocols.ocsp.responder import OcspResponder, ResponderConfig
from enrollment.protocols.ocsp.states import StoreStates
from enrollment.services import Services
from tests.enrollment.conftest import app_runtime, enroll_and_issue

OCSP_TYPE = {"Content-Type": "application/ocsp-request"}


def request_der(
    cert: x509.Certificate,
    issuer: x509.Certificate,
    *,
    nonce: bytes | None = None,
    algorithm: hashes.HashAlgorithm | None = None,
) -> bytes:
    sha1 = hashes.SHA1()  # noqa: S303 (RFC 5019: the CertID hash clients send)
    builder = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, algorithm or sha1)
    if nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    return builder.build().public_bytes(serialization.Encoding.DER)


def by_serial(serial: int, issuer: x509.Certificate) -> bytes:
    """A request for ``serial`` under ``issuer`` (a serial certdesk may never have issued)."""
    name_hash = hashes.Hash(hashes.SHA1())  # noqa: S303
    name_hash.update(issuer.subject.public_bytes())
    key_hash = x509.SubjectKeyIdentifier.from_public_key(issuer.public_key()).digest
    return (
        ocsp.OCSPRequestBuilder()
        .add_certificate_by_hash(name_hash.finalize(), key_hash, serial, hashes.SHA1())  # noqa: S303
        .build()
        .public_bytes(serialization.Encoding.DER)
    )


async def post(client: TestClient[Any, Any], der: bytes) -> ocsp.OCSPResponse:
    response = await client.post("/ocsp", data=der, headers=OCSP_TYPE)
    assert response.status == 200
    assert response.content_type == "application/ocsp-response"
    assert response.headers["Cache-Control"] == "no-store"
    return ocsp.load_der_ocsp_response(await response.read())


def get_path(der: bytes) -> str:
    return "/ocsp/" + base64.urlsafe_b64encode(der).decode().rstrip("=")


async def issue(services: Services, tmp_path: Path) -> x509.Certificate:
    return (await enroll_and_issue(services, tmp_path)).issued.certificate


async def test_ocsp_good_then_revoked_at_once_and_signed_by_the_delegated_signer(
    client: TestClient[Any, Any], tmp_path: Path
) -> None:
    """A cached good answer is not served after a revocation: the next request says revoked."""
    services = app_runtime(client).services
    cert = await issue(services, tmp_path)
    ca = services.ca.certificate
    first = await post(client, request_der(cert, ca))
    assert first.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
    assert first.certificate_status == ocsp.OCSPCertStatus.GOOD
    assert first.serial_number == cert.serial_number
    signer = first.certificates[0]
    assert signer.issuer == ca.subject
    signer.verify_directly_issued_by(ca)
    assert (
        first.responder_key_hash
        == x509.SubjectKeyIdentifier.from_public_key(signer.public_key()).digest
    )
    again = await post(client, request_der(cert, ca))
    assert again.this_update_utc == first.this_update_utc  # the pre-signed answer
    assert again.next_update_utc is not None
    assert again.next_update_utc - again.this_update_utc == services.config.crl_validity

    await services.revocation.revoke(
        format(cert.serial_number, "x"), reason="keyCompromise", actor="t"
    )
    revoked = await post(client, request_der(cert, ca))
    assert revoked.certificate_status == ocsp.OCSPCertStatus.REVOKED
    assert revoked.revocation_reason == x509.ReasonFlags.key_compromise
    assert revoked.revocation_time_utc is not None
    assert abs(revoked.revocation_time_utc - utcnow()) < timedelta(minutes=5)


async def test_ocsp_unknown_serial_and_other_issuer(
    client: TestClient[Any, Any], tmp_path: Path
) -> None:
    services = app_runtime(client).services
    ca = services.ca.certificate
    unknown = await post(client, by_serial(0x1234567, ca))
    assert unknown.certificate_status == ocsp.OCSPCertStatus.UNKNOWN
    other = services.ca.root  # a CA, but not the one that issues the holders' certificates
    refused = await post(client, by_serial(0x1234567, other))
    assert refused.response_status == ocsp.OCSPResponseStatus.UNAUTHORIZED


async def test_ocsp_malformed_requests_get_malformed_request_with_http_200(
    client: TestClient[Any, Any], tmp_path: Path
) -> None:
    services = app_runtime(client).services
    cert = await issue(services, tmp_path)
    valid = (
        ocsp.OCSPRequestBuilder()
        .add_certificate(cert, services.ca.certificate, hashes.SHA1())  # noqa: S303
        .build()
        .public_bytes(serialization.Encoding.DER)
    )
    for body in (b"", b"not an OCSP request", valid[:-3], os.urandom(9000), b"\x30\x03\x02\x01"):
        answer = await post(client, body)
        assert answer.response_status == ocsp.OCSPResponseStatus.MALFORMED_REQUEST
    for path in ("/ocsp/%%%", "/ocsp/not*base64", "/ocsp/AAAA"):
        response = await client.get(path)
        assert response.status == 200
        parsed = ocsp.load_der_ocsp_response(await response.read())
        assert parsed.response_status == ocsp.OCSPResponseStatus.MALFORMED_REQUEST


async def test_ocsp_request_with_two_nonces_gets_malformed_request(
    client: TestClient[Any, Any], tmp_path: Path
) -> None:
    """A duplicated extension is cryptography's DuplicateExtension, which is no ValueError (it
    was a 500): a malformed request, answered as one."""
    services = app_runtime(client).services
    cert = await issue(services, tmp_path)
    acceptable = x509.OCSPAcceptableResponses([x509.ObjectIdentifier("1.3.6.1.5.5.7.48.1.1")])
    der = (
        ocsp.OCSPRequestBuilder()
        .add_certificate(cert, services.ca.certificate, hashes.SHA256())
        .add_extension(x509.OCSPNonce(b"\x01" * 16), critical=False)
        .add_extension(acceptable, critical=False)
        .build()
        .public_bytes(serialization.Encoding.DER)
    )
    acceptable_oid, nonce_oid = (bytes.fromhex(f"2b060105050730010{arc}") for arc in (4, 2))
    assert der.count(acceptable_oid) == 1
    answer = await post(client, der.replace(acceptable_oid, nonce_oid))
    assert answer.response_status == ocsp.OCSPResponseStatus.MALFORMED_REQUEST


async def test_ocsp_nonce_is_echoed_and_never_served_from_the_cache(
    client: TestClient[Any, Any], tmp_path: Path
) -> None:
    services = app_runtime(client).services
    cert = await issue(services, tmp_path)
    ca = services.ca.certificate
    for nonce in (b"\x01" * 16, b"\x02" * 16):
        answer = await post(client, request_der(cert, ca, nonce=nonce))
        echoed = answer.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
        assert echoed == nonce
    too_long = await post(client, request_der(cert, ca, nonce=b"\x03" * 33))
    assert too_long.response_status == ocsp.OCSPResponseStatus.MALFORMED_REQUEST


async def test_ocsp_sha256_cert_id_is_answered_with_its_own_cert_id(
    client: TestClient[Any, Any], tmp_path: Path
) -> None:
    services = app_runtime(client).services
    cert = await issue(services, tmp_path)
    sha1 = await post(client, request_der(cert, services.ca.certificate))  # now cached
    assert isinstance(sha1.hash_algorithm, hashes.SHA1)
    answer = await post(
        client, request_der(cert, services.ca.certificate, algorithm=hashes.SHA256())
    )
    assert answer.certificate_status == ocsp.OCSPCertStatus.GOOD
    assert isinstance(answer.hash_algorithm, hashes.SHA256)


async def test_ocsp_get_carries_rfc5019_caching_headers_and_answers_304(
    client: TestClient[Any, Any], tmp_path: Path
) -> None:
    services = app_runtime(client).services
    cert = await issue(services, tmp_path)
    der = request_der(cert, services.ca.certificate)
    response = await client.get(get_path(der))
    assert response.status == 200
    body = await response.read()
    answer = ocsp.load_der_ocsp_response(body)
    assert answer.certificate_status == ocsp.OCSPCertStatus.GOOD
    headers = response.headers
    max_age = int(headers["Cache-Control"].split(",")[0].removeprefix("max-age="))
    assert 0 < max_age <= services.config.crl_refresh.total_seconds()
    assert "public" in headers["Cache-Control"]
    assert parsedate_to_datetime(headers["Expires"]) == answer.next_update_utc
    assert parsedate_to_datetime(headers["Last-Modified"]) == answer.this_update_utc
    same = await client.get(get_path(der), headers={"If-None-Match": headers["ETag"]})
    assert same.status == 304
    # RFC 6960 A.1: standard base64, percent-encoded, works as well as base64url.
    standard = "/ocsp/" + base64.b64encode(der).decode().replace("+", "%2B").replace("/", "%2F")
    assert (await (await client.get(standard)).read()) == body

    await services.revocation.revoke(
        format(cert.serial_number, "x"), reason="superseded", actor="t"
    )
    after = await client.get(get_path(der), headers={"If-None-Match": headers["ETag"]})
    assert after.status == 200
    revoked = ocsp.load_der_ocsp_response(await after.read())
    assert revoked.certificate_status == ocsp.OCSPCertStatus.REVOKED
    assert revoked.revocation_reason == x509.ReasonFlags.superseded


async def test_ocsp_signer_file_is_private(client: TestClient[Any, Any]) -> None:
    """The delegated key is made at start, in the CA's directory, readable by certdesk only."""
    runtime = app_runtime(client)
    assert client.app[ocsp_http.RESPONDER].signer is not None
    path = Path(runtime.settings.data_dir) / "ca" / "ocsp-signer.pem"
    assert path.stat().st_mode & 0o777 == 0o600


async def test_ocsp_signer_rotates_while_serving(
    runtime: Runtime, services: Services, tmp_path: Path
) -> None:
    """Past its rotation point the signer is replaced, and the pre-signed good answers with it."""
    now = [utcnow()]
    states = StoreStates(runtime.engine)
    policy = SignerPolicy(validity=timedelta(hours=2), renew_before=timedelta(hours=1))
    responder = OcspResponder(
        ca=services.ca,
        states=states,
        config=ResponderConfig(
            lifetime=timedelta(minutes=30),
            refresh=timedelta(minutes=10),
            signer_directory=tmp_path / "ocsp",
            signer_policy=policy,
        ),
        clock=lambda: now[0],
    )
    (tmp_path / "ocsp").mkdir()
    cert = await issue(services, tmp_path)
    query = parse_request(request_der(cert, services.ca.certificate))
    first = ocsp.load_der_ocsp_response((await responder.answer(query)).der)
    now[0] += timedelta(minutes=30)
    assert (await responder.answer(query)).der == (await responder.answer(query)).der
    now[0] += timedelta(minutes=31)  # 61 minutes: within renew_before of the end
    rotated = ocsp.load_der_ocsp_response((await responder.answer(query)).der)
    assert rotated.certificate_status == ocsp.OCSPCertStatus.GOOD
    assert rotated.certificates[0] != first.certificates[0]
    assert rotated.certificates[0].public_key() != first.certificates[0].public_key()
    assert rotated.this_update_utc > first.this_update_utc  # signed anew by the new signer
    rotated.certificates[0].verify_directly_issued_by(services.ca.certificate)
    await states.close()
