"""Fuzzing OCSP requests through the whole application, over POST and GET: every answer is an
HTTP 200 OCSP response (successful, malformedRequest or unauthorized), never a 500; and the
pure parser raises nothing but its refusal."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from aiohttp.test_utils import TestClient
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from hypothesis import given
from hypothesis import strategies as st

from enrollment.protocols.ocsp.messages import OcspRefusal, decode_get_path, parse_request
from tests.enrollment.conftest import app_runtime
from tests.fuzz.mutations import FUZZ, damaged, mutated

ANSWERED = {
    ocsp.OCSPResponseStatus.SUCCESSFUL,
    ocsp.OCSPResponseStatus.MALFORMED_REQUEST,
    ocsp.OCSPResponseStatus.UNAUTHORIZED,
}


def valid_request(issuer: x509.Certificate, serial: int, *, nonce: bool) -> bytes:
    name_hash = hashes.Hash(hashes.SHA1())  # noqa: S303 (the CertID hash clients send)
    name_hash.update(issuer.subject.public_bytes())
    key_hash = x509.SubjectKeyIdentifier.from_public_key(issuer.public_key()).digest
    builder = ocsp.OCSPRequestBuilder().add_certificate_by_hash(
        name_hash.finalize(),
        key_hash,
        serial,
        hashes.SHA1(),  # noqa: S303
    )
    if nonce:
        builder = builder.add_extension(x509.OCSPNonce(b"\x07" * 16), critical=False)
    return builder.build().public_bytes(serialization.Encoding.DER)


async def answered(client: TestClient[Any, Any], method: str, body: bytes) -> None:
    if method == "POST":
        response = await client.post("/ocsp", data=body)
    else:
        response = await client.get("/ocsp/" + base64.urlsafe_b64encode(body).decode())
    assert response.status == 200, await response.text()
    parsed = ocsp.load_der_ocsp_response(await response.read())
    assert parsed.response_status in ANSWERED


@FUZZ
@given(data=st.data(), method=st.sampled_from(["POST", "GET"]), nonce=st.booleans())
async def test_ocsp_damaged_requests_are_answered_never_500(
    client: TestClient[Any, Any], data: st.DataObject, method: str, nonce: bool
) -> None:
    ca = app_runtime(client).ca.certificate
    serial = data.draw(st.integers(1, 2**159))
    body = data.draw(st.one_of(mutated(valid_request(ca, serial, nonce=nonce)), st.binary()))
    await answered(client, method, body)


@FUZZ
@given(path=st.text(max_size=300))
async def test_ocsp_any_get_path_is_answered_never_500(
    client: TestClient[Any, Any], path: str
) -> None:
    printable = "".join(c for c in path if c.isprintable())
    response = await client.get("/ocsp/" + quote(printable, safe="/%+=-_"))
    assert response.status == 200, await response.text()
    parsed = ocsp.load_der_ocsp_response(await response.read())
    assert parsed.response_status in ANSWERED


@FUZZ
@given(body=damaged(b"\x30\x45\x30\x43\xa0\x03\x02\x01\x00", b"\x30\x00"), text=st.text())
def test_ocsp_parser_refuses_cleanly(body: bytes, text: str) -> None:
    """Any other exception fails the test; a refusal is always malformedRequest here."""
    for attempt in (lambda: parse_request(body), lambda: decode_get_path(text)):
        assert refusal_of(attempt) in {None, ocsp.OCSPResponseStatus.MALFORMED_REQUEST}


def refusal_of(call: Callable[[], object]) -> ocsp.OCSPResponseStatus | None:
    try:
        call()
    except OcspRefusal as exc:
        return exc.status
    return None
