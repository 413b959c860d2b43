"""The enrollment API through the whole aiohttp application, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from bot.app import RUNTIME
from enrollment.services import EnrollmentCreate
from enrollment.services.ra import NewEnrollment
from tests.support.pki import make_csr
from tests.support.store import snapshot

Client = TestClient[Any, Any]


async def new_enrollment(client: Client) -> NewEnrollment:
    services = client.app[RUNTIME].services
    return await services.ra.create_enrollment(
        EnrollmentCreate(cn="Test Holder 01", ous=["Branch 01", "RA Shanghai"], o="Acme Bank"),
        actor="test",
    )


def body(created: NewEnrollment, csr: str) -> dict[str, str]:
    return {
        "reference_number": created.reference_number,
        "authorization_code": created.authorization_code,
        "csr": csr,
    }


async def test_enroll_returns_201_with_certificate_and_chain(
    client: Client, tmp_path: Path
) -> None:
    created = await new_enrollment(client)
    _, csr = make_csr(tmp_path)
    response = await client.post(f"/api/v1/enroll/{created.link.token}", json=body(created, csr))
    assert response.status == 201
    data = await response.json()
    assert set(data) == {"certificate", "chain", "serial", "not_after"}
    cert = x509.load_pem_x509_certificate(data["certificate"].encode())
    assert format(cert.serial_number, "x") == data["serial"]
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Test Holder 01"
    chain = x509.load_pem_x509_certificates(data["chain"].encode())
    assert chain[0].subject == cert.issuer


async def test_enroll_same_link_twice_is_refused(client: Client, tmp_path: Path) -> None:
    created = await new_enrollment(client)
    _, csr = make_csr(tmp_path)
    url = f"/api/v1/enroll/{created.link.token}"
    assert (await client.post(url, json=body(created, csr))).status == 201
    again = await client.post(url, json=body(created, csr))
    assert again.status == 410
    assert (await again.json())["error"]["code"] == "link_used"


async def test_enroll_twenty_concurrent_posts_yield_one_certificate(
    client: Client, tmp_path: Path
) -> None:
    created = await new_enrollment(client)
    _, csr = make_csr(tmp_path)
    url = f"/api/v1/enroll/{created.link.token}"
    responses = await asyncio.gather(
        *(client.post(url, json=body(created, csr)) for _ in range(20))
    )
    statuses = sorted(r.status for r in responses)
    assert statuses == [201] + [410] * 19


def broken_signature(csr_pem: str) -> str:
    der = bytearray(
        x509.load_pem_x509_csr(csr_pem.encode()).public_bytes(serialization.Encoding.DER)
    )
    der[-5] ^= 0x01
    csr = x509.load_der_x509_csr(bytes(der))
    return csr.public_bytes(serialization.Encoding.PEM).decode()


@pytest.mark.parametrize(
    ("case", "status", "code", "words"),
    [
        ("garbage", 400, "csr_malformed", "could not be read"),
        ("broken-signature", 400, "csr_signature_invalid", "self-signature"),
        ("rsa-1024", 400, "key_not_allowed", "RSA-1024"),
        ("too-large", 413, "request_too_large", "64 KiB"),
        ("not-json", 400, "request_invalid", "not valid JSON"),
        ("missing-code", 400, "request_invalid", "authorization_code"),
        ("wrong-code", 403, "wrong_credentials", "4 attempt(s) left"),
    ],
)
async def test_enroll_bad_request_gets_json_error_and_changes_nothing(
    client: Client, tmp_path: Path, case: str, status: int, code: str, words: str
) -> None:
    created = await new_enrollment(client)
    _, good = make_csr(tmp_path)
    payload: dict[str, str] = body(created, good)
    raw: bytes | None = None
    if case == "garbage":
        payload["csr"] = "this is not a CSR"
    elif case == "broken-signature":
        payload["csr"] = broken_signature(good)
    elif case == "rsa-1024":
        payload["csr"] = make_csr(tmp_path, key="rsa1024")[1]
    elif case == "too-large":
        payload["csr"] = good + "#" * (65 * 1024)
    elif case == "not-json":
        raw = b"reference_number=1"
    elif case == "missing-code":
        del payload["authorization_code"]
    elif case == "wrong-code":
        payload["authorization_code"] = "2222-3333-4444-5555"
    runtime = client.app[RUNTIME]
    before = await snapshot(runtime)
    url = f"/api/v1/enroll/{created.link.token}"
    if raw is not None:
        response = await client.post(url, data=raw, headers={"Content-Type": "application/json"})
    else:
        response = await client.post(
            url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
        )
    assert response.status == status
    error = (await response.json())["error"]
    assert error["code"] == code
    assert words in error["message"]
    after = await snapshot(runtime)
    if case == "wrong-code":
        assert after["Enrollment"] != before["Enrollment"]  # the attempt is counted
        assert after["OneTimeLink"] == before["OneTimeLink"]  # the link stays usable
        assert after["Certificate"] == before["Certificate"]
    else:
        assert after == before


async def test_enroll_unknown_link_is_404_json(client: Client) -> None:
    response = await client.post(
        "/api/v1/enroll/unknown",
        json={"reference_number": "1", "authorization_code": "x", "csr": "x"},
    )
    assert response.status == 404
    assert (await response.json())["error"]["code"] == "link_unknown"


async def test_healthz_reports_database(client: Client) -> None:
    response = await client.get("/healthz")
    assert response.status == 200
    assert (await response.json()) == {"status": "ok", "database": "ok"}


async def test_ca_pem_serves_issuing_and_root(client: Client) -> None:
    response = await client.get("/ca.pem")
    certs = x509.load_pem_x509_certificates(await response.read())
    assert len(certs) == 2
    issuing, root = certs
    assert issuing.issuer == root.subject
    assert root.issuer == root.subject


async def test_metrics_counts_issued_certificates(client: Client, tmp_path: Path) -> None:
    def issued(text: str) -> float:
        for line in text.splitlines():
            if line.startswith(
                'certdesk_certificates_issued_total{delivery="csr",profile="client"}'
            ):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    before = issued(await (await client.get("/metrics")).text())
    created = await new_enrollment(client)
    _, csr = make_csr(tmp_path)
    await client.post(f"/api/v1/enroll/{created.link.token}", json=body(created, csr))
    after = issued(await (await client.get("/metrics")).text())
    assert after == before + 1
