"""Fuzzing EST bodies and headers through the whole application (an aiohttp test server).

Every answer is a 2xx or a 4xx with the API's JSON error, never a 500. How long damaged bodies
hold the parser is measured by ``benchmarks/hostile_inputs.py``, not asserted here."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import given
from hypothesis import strategies as st

from enrollment.services.ra import NewEnrollment
from tests.enrollment.conftest import HOLDER, app_runtime
from tests.fuzz.mutations import FUZZ, damaged

ENROLL = "/.well-known/est/simpleenroll"


def _der_csr() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ignored")])
    csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.DER)


DER = _der_csr()
BASE64 = base64.encodebytes(DER)
PEM = x509.load_der_x509_csr(DER).public_bytes(serialization.Encoding.PEM)
CONTENT_TYPES = st.sampled_from(
    ["application/pkcs10", "application/x-pkcs10", "application/json", "text/plain", ""]
)


@dataclass
class Holder:
    """A pending enrollment whose credentials the fuzzer sends, so bodies reach the CSR check;
    replaced when a mutation happens to stay a valid CSR and is issued."""

    client: TestClient[Any, Any]
    current: NewEnrollment | None = None
    issued: int = field(default=0)

    async def credentials(self) -> dict[str, str]:
        if self.current is None:
            services = app_runtime(self.client).services
            self.current = await services.ra.create_enrollment(HOLDER, actor="fuzz")
        user = f"{self.current.reference_number}:{self.current.authorization_code}"
        return {"Authorization": "Basic " + base64.b64encode(user.encode()).decode()}


@pytest.fixture
def holder(client: TestClient[Any, Any]) -> Holder:
    """One holder for all the examples of a test (the client is shared by them too)."""
    return Holder(client)


async def post(holder: Holder, body: bytes, content_type: str) -> tuple[int, Any]:
    headers = {**(await holder.credentials()), "Content-Type": content_type}
    response = await holder.client.post(ENROLL, data=body, headers=headers)
    if response.status == 200:
        holder.current = None
        holder.issued += 1
        return 200, None
    return response.status, await response.json(content_type=None)


@FUZZ
@given(body=damaged(BASE64, PEM, DER), content_type=CONTENT_TYPES)
async def test_est_damaged_bodies_give_json_4xx(
    holder: Holder, body: bytes, content_type: str
) -> None:
    status, answer = await post(holder, body, content_type)
    assert status < 500, answer
    if status != 200:
        assert set(answer["error"]) == {"code", "message"}, answer


@FUZZ
@given(header=st.one_of(st.text(max_size=120), st.binary(max_size=90).map(base64.b64encode)))
async def test_est_any_authorization_header_gives_json_4xx(
    client: TestClient[Any, Any], header: str | bytes
) -> None:
    value = header if isinstance(header, str) else "Basic " + header.decode()
    value = "".join(ch for ch in value if ch.isprintable() and ord(ch) < 128)
    response = await client.post(
        ENROLL, data=BASE64, headers={"Content-Type": "application/pkcs10", "Authorization": value}
    )
    assert response.status in {401, 423}, await response.text()
    assert "error" in await response.json()
