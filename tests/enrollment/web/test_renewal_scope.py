"""A renewal says no more than the certificate it renews, on every HTTP path: EST
simplereenroll (client certificate from the trusted proxy), POST /api/v1/renew (client
certificate, or a signed challenge), POST /api/v1/renew/{token} (renewal link). The CSRs ask
for another CN, OU and O, more subject alternative names, server/code/OCSP signing, CA
signing; the successor has the old certificate's subject, names, usages and profile. (Over
certdesk's own TLS with curl: tests/scenarios/test_tls.py; CMP kur: test_cmp.py.)"""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs7

from bot.settings import Settings
from enrollment.services import EnrollmentCreate
from tests.enrollment.conftest import HOLDER, Issued, app_runtime, enroll_and_issue
from tests.enrollment.protocols.test_est_reenroll import HEADER, PKCS10, escaped, serve
from tests.support.pki import assert_says_no_more, widening_csr
from tests.support.store import certificate_row
from usbkey.possession import renewal_message, sign_renewal

# Two extended key usages and an e-mail name: the most a holder's certificate says.
SMIME_HOLDER = EnrollmentCreate(**{**HOLDER.model_dump(), "profile": "smime"})


@pytest.fixture
async def desk(
    migrated: Settings, settings_factory: Callable[..., Settings], aiohttp_client: Any
) -> TestClient[Any, Any]:
    """The application behind a proxy at 127.0.0.1 that passes client certificates."""
    return await serve(migrated, settings_factory, aiohttp_client, "127.0.0.1")


async def holder(desk: TestClient[Any, Any], tmp_path: Path, delivery: str = "browser") -> Issued:
    services = app_runtime(desk).services
    return await enroll_and_issue(services, tmp_path, request=SMIME_HOLDER, delivery=delivery)


def pem(csr: x509.CertificateSigningRequest) -> str:
    return csr.public_bytes(serialization.Encoding.PEM).decode()


async def check_renewed(desk: TestClient[Any, Any], issued: Issued, new: x509.Certificate) -> None:
    old = issued.issued.certificate
    assert_says_no_more(old, new)
    extended = old.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert len(list(extended)) == 2  # clientAuth + emailProtection: the smime profile's
    engine = app_runtime(desk).engine
    before = await certificate_row(engine, issued.serial)
    after = await certificate_row(engine, format(new.serial_number, "x"))
    assert before.status == "superseded"
    assert (after.profile, after.subject_cn, after.subject_ous, after.subject_o) == (
        "smime", before.subject_cn, before.subject_ous, before.subject_o,
    )  # fmt: skip
    assert after.owner_email == before.owner_email


async def simplereenroll(
    desk: TestClient[Any, Any], old: x509.Certificate, csr: x509.CertificateSigningRequest
) -> ClientResponse:
    """EST simplereenroll of ``csr``, the proxy's header naming ``old`` as the client's."""
    return await desk.post(
        "/.well-known/est/simplereenroll",
        data=base64.encodebytes(csr.public_bytes(serialization.Encoding.DER)),
        headers={**PKCS10, HEADER: escaped(old)},
    )


async def test_simplereenroll_asking_for_more_usages_gets_the_current_ones(
    desk: TestClient[Any, Any], tmp_path: Path
) -> None:
    """Same subject, no names of its own, more usages and CA: issued, saying what the old one
    says (the usages a CSR asks for are ignored, as on a first enrollment)."""
    issued = await holder(desk, tmp_path)
    old = issued.issued.certificate
    _, csr = widening_csr(old.subject, sans=())
    response = await simplereenroll(desk, old, csr)
    assert response.status == 200, await response.text()
    (new,) = pkcs7.load_der_pkcs7_certificates(base64.b64decode(await response.read()))
    await check_renewed(desk, issued, new)


async def test_simplereenroll_with_the_current_names_is_issued(
    desk: TestClient[Any, Any], tmp_path: Path
) -> None:
    issued = await holder(desk, tmp_path)
    old = issued.issued.certificate
    names = old.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    _, csr = widening_csr(old.subject, sans=tuple(names))
    response = await simplereenroll(desk, old, csr)
    assert response.status == 200, await response.text()
    (new,) = pkcs7.load_der_pkcs7_certificates(base64.b64decode(await response.read()))
    await check_renewed(desk, issued, new)


async def test_simplereenroll_asking_for_more_names_is_refused_and_nothing_issued(
    desk: TestClient[Any, Any], tmp_path: Path
) -> None:
    """RFC 7030 4.2.2: the names of a re-enrollment are the current certificate's. A CSR with
    one more name is refused, saying which names it may have."""
    issued = await holder(desk, tmp_path)
    old = issued.issued.certificate
    current = old.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    _, csr = widening_csr(old.subject, sans=(*current, x509.DNSName("intranet.example")))
    response = await simplereenroll(desk, old, csr)
    assert response.status == 400
    error = (await response.json())["error"]
    assert error["code"] == "subject_mismatch"
    assert "email:holder@example.com" in error["message"]
    assert "DNS:intranet.example" in error["message"]
    record = await certificate_row(app_runtime(desk).engine, issued.serial)
    assert record.status == "active"


async def test_api_renew_by_client_certificate_ignores_what_the_csr_asks(
    desk: TestClient[Any, Any], tmp_path: Path
) -> None:
    issued = await holder(desk, tmp_path)
    old = issued.issued.certificate
    _, csr = widening_csr()
    response = await desk.post(
        "/api/v1/renew", json={"csr": pem(csr)}, headers={HEADER: escaped(old)}
    )
    assert response.status == 201, await response.text()
    new = x509.load_pem_x509_certificate((await response.json())["certificate"].encode())
    await check_renewed(desk, issued, new)


async def test_api_renew_by_signed_challenge_ignores_what_the_csr_asks(
    desk: TestClient[Any, Any], tmp_path: Path
) -> None:
    """`certdesk token renew`'s path: the current key signs challenge, certificate and CSR."""
    issued = await holder(desk, tmp_path, delivery="token")
    old = issued.issued.certificate
    old_pem = old.public_bytes(serialization.Encoding.PEM).decode()
    key = serialization.load_pem_private_key(issued.key_path.read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    asked = await desk.post("/api/v1/renew-challenge", json={"certificate": old_pem})
    assert asked.status == 201, await asked.text()
    challenge = (await asked.json())["challenge"]
    _, csr = widening_csr()
    message = renewal_message(
        challenge=challenge,
        certificate=old,
        csr_der=csr.public_bytes(serialization.Encoding.DER),
    )
    response = await desk.post(
        "/api/v1/renew",
        json={
            "certificate": old_pem,
            "csr": pem(csr),
            "challenge": challenge,
            "signature": sign_renewal(key, message),
        },
    )
    assert response.status == 201, await response.text()
    new = x509.load_pem_x509_certificate((await response.json())["certificate"].encode())
    await check_renewed(desk, issued, new)


async def renew_by_link(
    desk: TestClient[Any, Any], issued: Issued, csr: x509.CertificateSigningRequest
) -> x509.Certificate:
    services = app_runtime(desk).services
    link = await services.renewal.create_renewal_link(issued.serial, actor="test")
    response = await desk.post(
        f"/api/v1/renew/{link.link.token}",
        json={
            "serial": issued.serial,
            "verification_code": link.verification_code,
            "csr": pem(csr),
        },
    )
    assert response.status == 201, await response.text()
    return x509.load_pem_x509_certificate((await response.json())["certificate"].encode())


async def test_api_renew_by_link_ignores_what_the_csr_asks(
    desk: TestClient[Any, Any], tmp_path: Path
) -> None:
    issued = await holder(desk, tmp_path)
    _, csr = widening_csr()
    await check_renewed(desk, issued, await renew_by_link(desk, issued, csr))


async def test_api_renew_by_link_to_an_rsa_key_adds_only_what_rsa_keys_get(
    desk: TestClient[Any, Any], tmp_path: Path
) -> None:
    """From an EC key to RSA: the key usages are those of the new key's type (key
    encipherment for RSA, as a first certificate with that key gets), all else the old
    certificate's."""
    issued = await holder(desk, tmp_path)
    old = issued.issued.certificate
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "Someone Else")])
    )
    new = await renew_by_link(desk, issued, builder.sign(rsa_key, hashes.SHA256()))
    usage = new.extensions.get_extension_for_class(x509.KeyUsage).value
    assert (usage.digital_signature, usage.key_encipherment) == (True, True)
    assert (usage.key_cert_sign, usage.crl_sign, usage.key_agreement) == (False, False, False)
    assert new.subject == old.subject
    for kind in (x509.SubjectAlternativeName, x509.ExtendedKeyUsage, x509.BasicConstraints):
        assert new.extensions.get_extension_for_class(
            kind
        ) == old.extensions.get_extension_for_class(kind)
