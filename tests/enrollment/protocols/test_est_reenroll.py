"""EST simplereenroll and POST /api/v1/renew behind a TLS-terminating proxy: the client
certificate header is believed only from the proxy the operator names. (Over certdesk's own TLS,
with curl as the client: tests/scenarios/test_tls.py.)"""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp.test_utils import TestClient
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs7

from bot.app import create_app
from bot.settings import Settings
from enrollment.services import Services
from tests.enrollment.conftest import Issued, app_runtime, enroll_and_issue
from tests.support.pki import bad_version, negative_serial
from tests.support.store import certificate_row

HEADER = "X-Client-Cert"
PKCS10 = {"Content-Type": "application/pkcs10"}


def csr_for(subject: x509.Name) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    return base64.encodebytes(csr.public_bytes(serialization.Encoding.DER))


def escaped(certificate: x509.Certificate) -> str:
    """As nginx's $ssl_client_escaped_cert sends it."""
    return quote(certificate.public_bytes(serialization.Encoding.PEM).decode(), safe="")


async def serve(
    migrated: Settings,
    settings_factory: Callable[..., Settings],
    aiohttp_client: Callable[..., Any],
    proxy: str,
) -> TestClient[Any, Any]:
    del migrated  # the schema is made by the fixture
    settings = settings_factory(trusted_proxy=proxy, client_cert_header=HEADER)
    client: TestClient[Any, Any] = await aiohttp_client(create_app(settings))
    return client


@pytest.fixture
async def behind_proxy(
    migrated: Settings, settings_factory: Callable[..., Settings], aiohttp_client: Any
) -> TestClient[Any, Any]:
    """The application behind a proxy at 127.0.0.1 (the test client's address)."""
    return await serve(migrated, settings_factory, aiohttp_client, "127.0.0.1")


async def holder(client: TestClient[Any, Any], tmp_path: Path) -> tuple[Services, Issued]:
    services = app_runtime(client).services
    return services, await enroll_and_issue(services, tmp_path)


async def test_simplereenroll_from_the_trusted_proxy_renews_and_supersedes(
    behind_proxy: TestClient[Any, Any], tmp_path: Path
) -> None:
    services, issued = await holder(behind_proxy, tmp_path)
    old = issued.issued.certificate
    response = await behind_proxy.post(
        "/.well-known/est/simplereenroll",
        data=csr_for(old.subject),
        headers={**PKCS10, HEADER: escaped(old)},
    )
    assert response.status == 200, await response.text()
    (new,) = pkcs7.load_der_pkcs7_certificates(base64.b64decode(await response.read()))
    assert new.subject == old.subject
    assert new.serial_number != old.serial_number
    record = await certificate_row(app_runtime(behind_proxy).engine, issued.serial)
    assert record.status == "superseded"
    assert record.superseded_by == format(new.serial_number, "x")
    del services


async def test_simplereenroll_other_subject_refused_and_nothing_issued(
    behind_proxy: TestClient[Any, Any], tmp_path: Path
) -> None:
    _, issued = await holder(behind_proxy, tmp_path)
    old = issued.issued.certificate
    other = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "Someone Else")])
    response = await behind_proxy.post(
        "/.well-known/est/simplereenroll",
        data=csr_for(other),
        headers={**PKCS10, HEADER: escaped(old)},
    )
    assert response.status == 400
    error = (await response.json())["error"]
    assert error["code"] == "subject_mismatch"
    assert "same subject" in error["message"]
    record = await certificate_row(app_runtime(behind_proxy).engine, issued.serial)
    assert record.status == "active"


DNS_NAME = b"\x82\x0eholder.example"  # [2] dNSName in the CSR's subjectAltName
KEY_USAGE, ALTERNATIVE_NAMES = bytes.fromhex("0603551d0f"), bytes.fromhex("0603551d11")


@pytest.mark.parametrize(
    ("known", "damaged"),
    [
        pytest.param(KEY_USAGE, ALTERNATIVE_NAMES, id="two-subjectAltName"),
        pytest.param(DNS_NAME, b"\xa3" + DNS_NAME[1:], id="x400Address"),
    ],
)
async def test_simplereenroll_csr_whose_extensions_cryptography_refuses_is_a_400(
    behind_proxy: TestClient[Any, Any], tmp_path: Path, known: bytes, damaged: bytes
) -> None:
    """Two subjectAltName extensions (cryptography's DuplicateExtension) or a name of a type it
    does not read (UnsupportedGeneralNameType), neither a ValueError (both were a 500), are the
    CSR's unreadable extensions; nothing is issued."""
    _, issued = await holder(behind_proxy, tmp_path)
    old = issued.issued.certificate
    key = ec.generate_private_key(ec.SECP256R1())
    usage = x509.KeyUsage(True, False, False, False, False, False, False, False, False)
    der = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(old.subject)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("holder.example")]), False)
        .add_extension(usage, critical=True)
        .sign(key, hashes.SHA256())
        .public_bytes(serialization.Encoding.DER)
    )
    assert der.count(known) == 1
    response = await behind_proxy.post(
        "/.well-known/est/simplereenroll",
        data=base64.encodebytes(der.replace(known, damaged)),
        headers={**PKCS10, HEADER: escaped(old)},
    )
    assert response.status == 400, await response.text()
    error = (await response.json())["error"]
    assert error["code"] == "csr_malformed"
    assert "extensions cannot be read" in error["message"]
    record = await certificate_row(app_runtime(behind_proxy).engine, issued.serial)
    assert record.status == "active"


async def test_simplereenroll_revoked_certificate_refused(
    behind_proxy: TestClient[Any, Any], tmp_path: Path
) -> None:
    services, issued = await holder(behind_proxy, tmp_path)
    await services.revocation.revoke(issued.serial, reason="keyCompromise", actor="test")
    old = issued.issued.certificate
    response = await behind_proxy.post(
        "/.well-known/est/simplereenroll",
        data=csr_for(old.subject),
        headers={**PKCS10, HEADER: escaped(old)},
    )
    assert response.status == 409
    error = (await response.json())["error"]
    assert error["code"] == "certificate_not_active"
    assert "revoked" in error["message"]


async def test_simplereenroll_header_from_an_untrusted_peer_is_ignored(
    migrated: Settings,
    settings_factory: Callable[..., Settings],
    aiohttp_client: Any,
    tmp_path: Path,
) -> None:
    """The proxy named is 10.9.9.9; the same header from 127.0.0.1 is as if absent."""
    client = await serve(migrated, settings_factory, aiohttp_client, "10.9.9.9")
    _, issued = await holder(client, tmp_path)
    old = issued.issued.certificate
    response = await client.post(
        "/.well-known/est/simplereenroll",
        data=csr_for(old.subject),
        headers={**PKCS10, HEADER: escaped(old)},
    )
    assert response.status == 401
    assert (await response.json())["error"]["code"] == "client_certificate_required"
    record = await certificate_row(app_runtime(client).engine, issued.serial)
    assert record.status == "active"


async def test_simplereenroll_header_refused_by_default(
    client: TestClient[Any, Any], tmp_path: Path
) -> None:
    """Without CERTDESK_TRUSTED_PROXY no header is believed, whatever its name."""
    _, issued = await holder(client, tmp_path)
    old = issued.issued.certificate
    response = await client.post(
        "/.well-known/est/simplereenroll",
        data=csr_for(old.subject),
        headers={**PKCS10, HEADER: escaped(old), "X-SSL-Client-Cert": escaped(old)},
    )
    assert response.status == 401


async def test_simplereenroll_unreadable_header_from_the_proxy_is_400(
    behind_proxy: TestClient[Any, Any], tmp_path: Path
) -> None:
    response = await behind_proxy.post(
        "/.well-known/est/simplereenroll",
        data=csr_for(x509.Name([])),
        headers={**PKCS10, HEADER: "not a certificate"},
    )
    assert response.status == 400
    assert (await response.json())["error"]["code"] == "client_certificate_malformed"


@pytest.mark.parametrize("damage", [bad_version, negative_serial], ids=["version-5", "serial"])
async def test_simplereenroll_header_the_library_would_not_read_cleanly_is_400(
    behind_proxy: TestClient[Any, Any], tmp_path: Path, damage: Callable[[x509.Certificate], bytes]
) -> None:
    """A forwarded certificate with version 5 (cryptography's InvalidVersion, no ValueError) or
    a negative serial number (RFC 5280 forbids it; cryptography loads it with a deprecation
    warning) is malformed: 400, not a 500."""
    _, issued = await holder(behind_proxy, tmp_path)
    header = base64.b64encode(damage(issued.issued.certificate)).decode()
    response = await behind_proxy.post(
        "/.well-known/est/simplereenroll",
        data=csr_for(issued.issued.certificate.subject),
        headers={**PKCS10, HEADER: header},
    )
    assert response.status == 400
    assert (await response.json())["error"]["code"] == "client_certificate_malformed"


async def test_api_renew_with_the_client_certificate_needs_only_the_csr(
    behind_proxy: TestClient[Any, Any], tmp_path: Path
) -> None:
    """POST /api/v1/renew: the client certificate stands in for the signed challenge, for a
    certificate delivered to the browser too."""
    _, issued = await holder(behind_proxy, tmp_path)
    old = issued.issued.certificate
    csr = base64.b64decode(csr_for(old.subject))
    pem = x509.load_der_x509_csr(csr).public_bytes(serialization.Encoding.PEM).decode()
    response = await behind_proxy.post(
        "/api/v1/renew", json={"csr": pem}, headers={HEADER: escaped(old)}
    )
    assert response.status == 201, await response.text()
    body = await response.json()
    new = x509.load_pem_x509_certificate(body["certificate"].encode())
    assert new.subject == old.subject
    record = await certificate_row(app_runtime(behind_proxy).engine, issued.serial)
    assert (record.status, record.superseded_by) == ("superseded", body["serial"])

    again = await behind_proxy.post(
        "/api/v1/renew", json={"csr": pem}, headers={HEADER: escaped(old)}
    )
    assert again.status == 409


async def test_api_renew_without_client_certificate_still_needs_the_challenge(
    client: TestClient[Any, Any], tmp_path: Path
) -> None:
    _, issued = await holder(client, tmp_path)
    old = issued.issued.certificate
    pem = x509.load_der_x509_csr(base64.b64decode(csr_for(old.subject))).public_bytes(
        serialization.Encoding.PEM
    )
    response = await client.post(
        "/api/v1/renew", json={"csr": pem.decode()}, headers={HEADER: escaped(old)}
    )
    assert response.status == 401
    error = (await response.json())["error"]
    assert error["code"] == "client_certificate_required"
    assert "challenge" in error["message"]
    record = await certificate_row(app_runtime(client).engine, issued.serial)
    assert record.status == "active"
