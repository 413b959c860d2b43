"""The JSON API through the whole application: issuance, PKCS#12, renewal, lockout, the CRL."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from aiohttp.test_utils import TestClient
from cryptography import x509
from sqlmodel import select

from bot.runtime import Runtime
from enrollment.db import session_factory
from enrollment.models import AuditEvent
from tests.enrollment.conftest import HOLDER, app_runtime, enroll_and_issue
from tests.support.p12 import assert_compatible, assert_modern, java_import, nss_import, p12_info
from tests.support.pki import (
    bad_version_csr,
    bad_version_pem,
    make_csr,
    negative_serial,
    openssl,
    pem_block,
    self_signed,
    verify,
)
from tests.support.processes import Cli
from tests.support.store import certificate_row, certificate_view


async def audit_actions(runtime: Runtime) -> list[str]:
    async with session_factory(runtime.engine)() as session:
        return [e.action for e in (await session.execute(select(AuditEvent))).scalars().all()]


async def ca_file(client: TestClient[Any, Any], directory: Path) -> Path:
    path = directory / "ca.pem"
    path.write_bytes(await (await client.get("/ca.pem")).read())
    return path


async def test_enroll_with_csr_returns_chain_and_friendly_name(
    client: TestClient[Any, Any], tmp_path: Path
) -> None:
    runtime = app_runtime(client)
    services = runtime.services
    created = await services.ra.create_enrollment(HOLDER, actor="test")
    _, csr = make_csr(tmp_path)
    response = await client.post(
        f"/api/v1/enroll/{created.link.token}",
        json={
            "reference_number": created.reference_number,
            "authorization_code": created.authorization_code,
            "csr": csr,
            "delivery": "browser",
        },
    )
    assert response.status == 201
    body = await response.json()
    assert set(body) == {"certificate", "chain", "serial", "not_after"}  # the contract, exactly
    name = f"Test Holder 01 ({created.reference_number})"
    assert unquote(response.headers["Certdesk-Friendly-Name"]) == name
    record = await certificate_row(runtime.engine, body["serial"])
    assert record.delivery == "browser"
    cert_path = tmp_path / "cert.pem"
    cert_path.write_text(body["certificate"])
    assert verify(await ca_file(client, tmp_path), cert_path).returncode == 0
    cert = x509.load_pem_x509_certificate(body["certificate"].encode())
    points = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert points[0].full_name[0].value == "http://certdesk.test/crl"


async def test_enroll_with_a_csr_of_an_unknown_version_is_a_400(
    client: TestClient[Any, Any],
) -> None:
    """A version-5 CSR is csr_malformed (400 JSON), not the 500 of InvalidVersion."""
    created = await app_runtime(client).services.ra.create_enrollment(HOLDER, actor="test")
    response = await client.post(
        f"/api/v1/enroll/{created.link.token}",
        json={
            "reference_number": created.reference_number,
            "authorization_code": created.authorization_code,
            "csr": bad_version_csr(),
        },
    )
    assert response.status == 400, await response.text()
    assert (await response.json())["error"]["code"] == "csr_malformed"


async def test_enroll_refuses_unknown_delivery(
    client: TestClient[Any, Any], tmp_path: Path
) -> None:
    created = await app_runtime(client).services.ra.create_enrollment(HOLDER, actor="test")
    _, csr = make_csr(tmp_path)
    response = await client.post(
        f"/api/v1/enroll/{created.link.token}",
        json={
            "reference_number": created.reference_number,
            "authorization_code": created.authorization_code,
            "csr": csr,
            "delivery": "server",
        },
    )
    assert response.status == 400
    assert (await response.json())["error"]["code"] == "request_invalid"


async def test_server_pkcs12_opens_with_openssl_and_chains_to_ca(
    client: TestClient[Any, Any], tmp_path: Path
) -> None:
    runtime = app_runtime(client)
    services = runtime.services
    created = await services.ra.create_enrollment(
        HOLDER.model_copy(update={"profile": "client-keygen"}), actor="test"
    )
    response = await client.post(
        f"/api/v1/enroll/{created.link.token}/pkcs12",
        json={
            "reference_number": created.reference_number,
            "authorization_code": created.authorization_code,
            "password": "correct horse",
            "key_type": "rsa-2048",
        },
    )
    assert response.status == 201
    assert response.content_type == "application/x-pkcs12"
    expected_name = f"Test-Holder-01-{created.reference_number}.p12"
    assert response.headers["Content-Disposition"] == f'attachment; filename="{expected_name}"'
    p12 = tmp_path / "server.p12"
    p12.write_bytes(await response.read())
    opened = openssl("pkcs12", "-in", str(p12), "-passin", "pass:correct horse", "-nodes")
    assert opened.returncode == 0, opened.stderr
    leaf = tmp_path / "leaf.pem"
    leaf.write_bytes(
        openssl(
            "pkcs12", "-in", str(p12), "-passin", "pass:correct horse", "-clcerts", "-nokeys"
        ).stdout
    )
    assert verify(await ca_file(client, tmp_path), leaf).returncode == 0
    cert = x509.load_pem_x509_certificate(leaf.read_bytes())
    assert format(cert.serial_number, "x") == response.headers["Certdesk-Serial"]
    record = await certificate_row(runtime.engine, response.headers["Certdesk-Serial"])
    assert record.delivery == "server"
    assert record.key_type == "RSA-2048"


async def server_p12(
    client: TestClient[Any, Any], *, cn: str = HOLDER.cn, **extra: str
) -> tuple[Any, bytes]:
    """A server-made PKCS#12 through the API (password "correct horse"): response, file."""
    runtime = app_runtime(client)
    created = await runtime.services.ra.create_enrollment(
        HOLDER.model_copy(update={"profile": "client-keygen", "cn": cn}), actor="test"
    )
    response = await client.post(
        f"/api/v1/enroll/{created.link.token}/pkcs12",
        json={
            "reference_number": created.reference_number,
            "authorization_code": created.authorization_code,
            "password": "correct horse",
            **extra,
        },
    )
    assert response.status == 201, await response.text()
    return response, await response.read()


async def test_server_pkcs12_default_is_modern_with_100000_iterations_and_mac(
    client: TestClient[Any, Any], tmp_path: Path
) -> None:
    """The default file: AES-256-CBC under PBKDF2-SHA256 at 100,000 iterations, and a SHA-256
    MAC whose key takes as many (not cryptography's 2,048, which made the MAC the cheap way to
    test password guesses), with a 16-byte salt; NSS still imports it."""
    _, data = await server_p12(client)
    path = tmp_path / "modern.p12"
    path.write_bytes(data)
    info = p12_info(path, "correct horse")
    assert_modern(info)
    assert "MAC: sha256, Iteration 100000" in info
    assert "salt length: 16" in info
    assert info.count("Iteration 100000") == 3, info
    assert HOLDER.cn in nss_import(path, "correct horse", tmp_path)


async def test_server_pkcs12_compatible_is_3des_with_sha1_mac_and_imports(
    client: TestClient[Any, Any], tmp_path: Path
) -> None:
    """ "format": "compatible" is what `openssl pkcs12 -legacy` writes; NSS and Java import it."""
    _, data = await server_p12(client, format="compatible", key_type="rsa-2048")
    path = tmp_path / "compatible.p12"
    path.write_bytes(data)
    assert_compatible(p12_info(path, "correct horse"))
    assert HOLDER.cn in nss_import(path, "correct horse", tmp_path)
    assert "PrivateKeyEntry" in java_import(path, "correct horse", tmp_path)


async def test_server_pkcs12_format_also_as_query(
    client: TestClient[Any, Any], tmp_path: Path
) -> None:
    """?format=compatible works like the body field; the body's field wins over the query."""
    runtime = app_runtime(client)
    for query, body, expected in [
        ("compatible", None, assert_compatible),
        ("compatible", "modern", assert_modern),
    ]:
        created = await runtime.services.ra.create_enrollment(
            HOLDER.model_copy(update={"profile": "client-keygen"}), actor="test"
        )
        response = await client.post(
            f"/api/v1/enroll/{created.link.token}/pkcs12?format={query}",
            json={
                "reference_number": created.reference_number,
                "authorization_code": created.authorization_code,
                "password": "correct horse",
                **({"format": body} if body else {}),
            },
        )
        assert response.status == 201, await response.text()
        path = tmp_path / f"{query}-{body}.p12"
        path.write_bytes(await response.read())
        expected(p12_info(path, "correct horse"))


async def test_server_pkcs12_unknown_format_is_a_400(client: TestClient[Any, Any]) -> None:
    runtime = app_runtime(client)
    created = await runtime.services.ra.create_enrollment(
        HOLDER.model_copy(update={"profile": "client-keygen"}), actor="test"
    )
    response = await client.post(
        f"/api/v1/enroll/{created.link.token}/pkcs12",
        json={
            "reference_number": created.reference_number,
            "authorization_code": created.authorization_code,
            "password": "correct horse",
            "format": "rc2",
        },
    )
    assert response.status == 400
    error = (await response.json())["error"]
    assert error["code"] == "request_invalid"
    assert "compatible" in error["message"]


async def test_server_pkcs12_chinese_name_has_rfc6266_filename(
    client: TestClient[Any, Any],
) -> None:
    """张三's file is 张三-<ref>.p12 in filename*, with an ASCII filename= beside it."""
    response, _ = await server_p12(client, cn="张三")
    disposition = response.headers["Content-Disposition"]
    fallback, encoded = disposition.removeprefix("attachment; ").split("; ")
    assert fallback.startswith('filename="')
    assert fallback.isascii()
    assert encoded.startswith("filename*=UTF-8''")
    name = unquote(encoded.removeprefix("filename*=UTF-8''"))
    assert name.startswith("张三-")
    assert name.endswith(".p12")
    assert fallback == f'filename="{name.removeprefix("张三-")}"'


async def test_server_pkcs12_refused_by_policy_and_short_password(
    client: TestClient[Any, Any],
) -> None:
    created = await app_runtime(client).services.ra.create_enrollment(HOLDER, actor="test")
    body = {
        "reference_number": created.reference_number,
        "authorization_code": created.authorization_code,
        "password": "correct horse",
    }
    refused = await client.post(f"/api/v1/enroll/{created.link.token}/pkcs12", json=body)
    assert refused.status == 403
    assert (await refused.json())["error"]["code"] == "policy_forbidden"
    short = await client.post(
        f"/api/v1/enroll/{created.link.token}/pkcs12", json={**body, "password": "short"}
    )
    assert short.status == 400
    assert (await short.json())["error"]["code"] == "password_invalid"


async def test_renew_api_supersedes_and_keeps_subject(
    client: TestClient[Any, Any], tmp_path: Path
) -> None:
    runtime = app_runtime(client)
    services = runtime.services
    issued = await enroll_and_issue(services, tmp_path, delivery="csr")
    renewal = await services.renewal.create_renewal_link(issued.serial, actor="test")
    _, csr = make_csr(tmp_path, key="ed25519")
    response = await client.post(
        f"/api/v1/renew/{renewal.link.token}",
        json={
            "serial": issued.serial,
            "verification_code": renewal.verification_code,
            "csr": csr,
        },
    )
    assert response.status == 201
    body = await response.json()
    assert body["replaces"] == issued.serial
    assert body["delivery"] == "csr"
    assert body["friendly_name"] == issued.issued.friendly_name
    new = x509.load_pem_x509_certificate(body["certificate"].encode())
    assert new.subject == issued.issued.certificate.subject
    assert (await certificate_view(runtime.engine, issued.serial)).status == "superseded"


async def test_wrong_verification_code_answers_attempts_left_in_chinese(
    client: TestClient[Any, Any], tmp_path: Path
) -> None:
    runtime = app_runtime(client)
    services = runtime.services
    issued = await enroll_and_issue(services, tmp_path)
    renewal = await services.renewal.create_renewal_link(issued.serial, actor="test")
    response = await client.post(
        f"/api/v1/renew/{renewal.link.token}",
        json={"serial": issued.serial, "verification_code": "NOPE", "csr": "x"},
        headers={"Accept-Language": "zh-CN,zh"},
    )
    assert response.status == 403
    error = (await response.json())["error"]
    assert error["code"] == "wrong_verification_code"
    assert f"{services.config.max_failed_attempts - 1} 次" in error["message"]


async def test_five_wrong_codes_lock_until_ra_unlock(
    client: TestClient[Any, Any], cli: Cli, database_url: str, tmp_path: Path
) -> None:
    """Acceptance 4: the right code is refused with "locked, ask RA" until `ra unlock`."""
    runtime = app_runtime(client)
    services = runtime.services
    assert services.config.max_failed_attempts == 5
    created = await services.ra.create_enrollment(HOLDER, actor="test")
    _, csr = make_csr(tmp_path)
    url = f"/api/v1/enroll/{created.link.token}"
    right = {
        "reference_number": created.reference_number,
        "authorization_code": created.authorization_code,
        "csr": csr,
    }
    wrong = {**right, "authorization_code": "AAAA-BBBB-CCCC-DDDD"}
    statuses = [(await client.post(url, json=wrong)).status for _ in range(5)]
    assert statuses == [403, 403, 403, 403, 423]

    refused = await client.post(url, json=right)
    assert refused.status == 423
    error = (await refused.json())["error"]
    assert error["code"] == "enrollment_locked"
    assert "locked" in error["message"]
    assert "Ask RA staff to unlock it" in error["message"]
    refused_zh = await client.post(url, json=right, headers={"Accept-Language": "zh"})
    assert "请联系 RA 工作人员解锁" in (await refused_zh.json())["error"]["message"]

    unlocked = cli(
        "ra", "unlock", created.reference_number, env={"CERTDESK_DATABASE_URL": database_url}
    )
    assert unlocked.returncode == 0, unlocked.stderr
    accepted = await client.post(url, json=right)
    assert accepted.status == 201
    actions = await audit_actions(runtime)
    assert actions.count("enrollment.wrong_code") == 5
    assert "enrollment.lock" in actions
    assert "enrollment.unlock" in actions


async def test_revoked_serial_is_in_crl_that_openssl_verifies(
    client: TestClient[Any, Any], cli: Cli, database_url: str, tmp_path: Path
) -> None:
    """Acceptance 3: `ra revoke`, then /crl lists the serial and verifies against /ca.pem."""
    runtime = app_runtime(client)
    services = runtime.services
    issued = await enroll_and_issue(services, tmp_path)
    kept = await enroll_and_issue(services, tmp_path)
    before = await client.get("/crl")
    assert before.status == 200
    assert before.content_type == "application/pkix-crl"

    revoked = cli(
        "ra",
        "revoke",
        issued.serial,
        "--reason",
        "keyCompromise",
        env={"CERTDESK_DATABASE_URL": database_url},
    )
    assert revoked.returncode == 0, revoked.stderr

    crl_path = tmp_path / "crl.der"
    crl_path.write_bytes(await (await client.get("/crl")).read())
    ca = await ca_file(client, tmp_path)
    checked = openssl(
        "crl", "-inform", "DER", "-in", str(crl_path), "-CAfile", str(ca), "-noout", "-verify"
    )
    assert checked.returncode == 0, checked.stderr
    assert b"verify OK" in checked.stdout + checked.stderr
    listing = openssl("crl", "-inform", "DER", "-in", str(crl_path), "-noout", "-text").stdout
    text = listing.decode().replace(":", "").lower()
    assert f"serial number {issued.serial.zfill(40)}" in text
    assert kept.serial.zfill(40) not in text
    assert "key compromise" in text
    assert "next update" in text
    crl = x509.load_der_x509_crl(crl_path.read_bytes())
    old = x509.load_der_x509_crl(await before.read())
    number = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    old_number = old.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    assert number > old_number


async def test_a_refused_request_is_logged_by_its_route_never_its_token(
    client: TestClient[Any, Any], caplog: pytest.LogCaptureFixture
) -> None:
    secret = "TokenThatMustNotBeLogged0123456789abcdefgh"
    with caplog.at_level(logging.INFO, logger="enrollment.web.api"):
        refused = await client.post(f"/api/v1/enroll/{secret}/pkcs12", data=b"{not json")
    assert refused.status == 400
    [record] = [r for r in caplog.records if r.getMessage() == "request refused"]
    assert record.__dict__["route"] == "/api/v1/enroll/{token}/pkcs12"
    assert record.__dict__["code"] == "request_invalid"
    assert secret not in caplog.text


async def test_api_errors_are_json_and_keep_allow_header(client: TestClient[Any, Any]) -> None:
    not_allowed = await client.get("/api/v1/enroll/some-token")
    assert not_allowed.status == 405
    assert "POST" in not_allowed.headers["Allow"]
    error = (await not_allowed.json())["error"]
    assert error["code"] == "method_not_allowed"
    assert "GET is not allowed" in error["message"]
    assert "use POST" in error["message"]
    assert "/api/openapi.json" in error["message"]
    assert "some-token" not in error["message"]  # a path may hold a link token
    garbage = await client.post("/api/v1/renew/x", data=b"{not json")
    assert garbage.status == 400
    assert (await garbage.json())["error"]["code"] == "request_invalid"
    big = await client.post("/api/v1/enroll/x", data=b"x" * (65 * 1024))
    assert big.status == 413


@pytest.mark.parametrize("path", ["/api/v1/enroll/x", "/api/v1/renew/x"])
async def test_unknown_link_api_says_ask_bot(client: TestClient[Any, Any], path: str) -> None:
    body = {
        "reference_number": "1",
        "authorization_code": "x",
        "serial": "ab",
        "verification_code": "x",
        "csr": "x",
    }
    response = await client.post(path, json=body)
    assert response.status == 404
    assert "certdesk bot" in (await response.json())["error"]["message"]


DEEP = "[" * 30_000 + "]" * 30_000


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/enroll/x",
        "/api/v1/enroll/x/pkcs12",
        "/api/v1/renew/x",
        "/api/v1/renew/x/pkcs12",
        "/api/v1/renew-challenge",
        "/api/v1/renew",
    ],
)
async def test_deeply_nested_json_is_a_400(client: TestClient[Any, Any], path: str) -> None:
    """Finding 4: 30,000 brackets are refused as invalid JSON, not a RecursionError's 500."""
    for body in (DEEP, '{"a": ' + DEEP + "}"):
        response = await client.post(path, data=body, headers={"Content-Type": "application/json"})
        assert response.status == 400, await response.text()
        error = (await response.json())["error"]
        assert error["code"] == "request_invalid"
        assert "nested too deeply" in error["message"]


async def test_renew_challenge_for_a_certificate_of_an_unknown_version_is_a_404(
    client: TestClient[Any, Any],
) -> None:
    """Version 5 is no certificate of ours (404 JSON), not the 500 of InvalidVersion."""
    _, certificate = self_signed("Test Holder 01", valid_for=timedelta(days=30))
    pem = bad_version_pem(certificate).decode()
    response = await client.post("/api/v1/renew-challenge", json={"certificate": pem})
    assert response.status == 404, await response.text()
    assert (await response.json())["error"]["code"] == "certificate_not_found"


async def test_renew_challenge_for_a_certificate_with_a_negative_serial_is_a_404(
    client: TestClient[Any, Any],
) -> None:
    """A serial number of zero or less (RFC 5280 forbids it; cryptography still loads it, with a
    deprecation warning) is no certificate of ours."""
    _, certificate = self_signed("Test Holder 01", valid_for=timedelta(days=30))
    pem = pem_block(negative_serial(certificate)).decode()
    response = await client.post("/api/v1/renew-challenge", json={"certificate": pem})
    assert response.status == 404, await response.text()
    assert (await response.json())["error"]["code"] == "certificate_not_found"


async def test_renew_challenge_limit_per_client_answers_429_with_retry_after(
    client: TestClient[Any, Any],
) -> None:
    """Finding 5 through HTTP: the per-client limit is a JSON 429 with Retry-After."""
    from enrollment.services.key_renewal import CHALLENGES_PER_CLIENT

    body = {"certificate": "not a certificate"}
    for _ in range(CHALLENGES_PER_CLIENT):
        assert (await client.post("/api/v1/renew-challenge", json=body)).status == 404
    limited = await client.post("/api/v1/renew-challenge", json=body)
    assert limited.status == 429
    assert 0 < int(limited.headers["Retry-After"]) <= 300
    assert (await limited.json())["error"]["code"] == "too_many_challenges"
