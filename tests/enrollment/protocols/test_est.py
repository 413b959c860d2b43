"""EST (RFC 7030) through the whole application, with real OpenSSL as the client's tools.

Every test using ``client`` runs on SQLite and on PostgreSQL (the ``database_url`` fixture).
"""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, pkcs7
from sqlmodel import select

from bot.runtime import Runtime
from common.errors import CertdeskError
from enrollment.db import session_factory
from enrollment.errors import CsrMalformed
from enrollment.models import AuditEvent, Certificate, Enrollment
from enrollment.protocols import est
from enrollment.services.ra import NewEnrollment
from tests.enrollment.conftest import HOLDER, app_runtime
from tests.support.pki import make_csr, openssl, subject_line, verify
from tests.support.processes import Cli
from tests.support.store import certificate_row, count_rows, enrollment_view

ENROLL = "/.well-known/est/simpleenroll"
PKCS10_TYPE = "application/pkcs10"
PKCS10 = {"Content-Type": PKCS10_TYPE}
PEM_CERTIFICATE = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"


def der_csr_b64(directory: Path, *, key: str = "ec", subject: str = "/CN=ignored") -> bytes:
    """`openssl req` makes the CSR; the body is its DER, base64 with line breaks."""
    _, pem = make_csr(directory, key=key, subject=subject)
    der = openssl("req", "-in", "/dev/stdin", "-outform", "DER", input=pem.encode())
    assert der.returncode == 0, der.stderr
    return base64.encodebytes(der.stdout)


def basic(user: str, password: str) -> dict[str, str]:
    """A PKCS#10 request's headers with HTTP Basic credentials."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {**PKCS10, "Authorization": f"Basic {token}"}


def auth(created: NewEnrollment, code: str | None = None) -> dict[str, str]:
    return basic(created.reference_number, code or created.authorization_code)


def print_certs(body: bytes, directory: Path, name: str) -> Path:
    """The response body as `openssl pkcs7 -print_certs` reads it (base64 -> DER PKCS#7)."""
    printed = openssl(
        "pkcs7", "-inform", "DER", "-print_certs", input=base64.b64decode(body, validate=False)
    )
    assert printed.returncode == 0, printed.stderr
    path = directory / name
    path.write_bytes(printed.stdout)
    return path


async def ca_file(client: TestClient[Any, Any], directory: Path) -> Path:
    path = directory / "ca.pem"
    path.write_bytes(await (await client.get("/ca.pem")).read())
    return path


async def snapshot(runtime: Runtime) -> tuple[Any, ...]:
    async with session_factory(runtime.engine)() as session:
        enrollments = (await session.execute(select(Enrollment))).scalars().all()
    return (
        await count_rows(runtime.engine, Certificate),
        await count_rows(runtime.engine, AuditEvent),
        sorted((e.reference_number, e.status, e.failed_attempts) for e in enrollments),
    )


async def audit_events(runtime: Runtime, action: str) -> list[AuditEvent]:
    async with session_factory(runtime.engine)() as session:
        query = select(AuditEvent).where(AuditEvent.action == action)
        return list((await session.execute(query)).scalars().all())


# -- pure -------------------------------------------------------------------------------


def test_decode_pkcs10_accepts_base64_with_line_breaks_and_pem(tmp_path: Path) -> None:
    _, pem = make_csr(tmp_path)
    der = x509.load_pem_x509_csr(pem.encode()).public_bytes(Encoding.DER)
    wrapped = b"\r\n ".join(base64.b64encode(der)[i : i + 20] for i in range(0, 400, 20))
    assert est.decode_pkcs10(wrapped + b"\n") == der
    assert est.decode_pkcs10(pem.encode()) == pem.strip().encode()


@pytest.mark.parametrize(
    "body",
    [b"", b"   \n", b"not base64 at all!", b"\xff\xfe\x00binary", b"====", b"-----BEGIN X-----"],
)
def test_decode_pkcs10_refuses_neither_base64_nor_pem(body: bytes) -> None:
    with pytest.raises(CsrMalformed):
        est.decode_pkcs10(body)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (
            "Basic " + base64.b64encode(b"1234567890:ABCD-EFGH").decode(),
            ("1234567890", "ABCD-EFGH"),
        ),
        ("basic " + base64.b64encode(b"1:a:b").decode(), ("1", "a:b")),
        (None, None),
        ("", None),
        ("Bearer abc", None),
        ("Basic !!!", None),
        ("Basic " + base64.b64encode(b"no-colon").decode(), None),
        ("Basic " + base64.b64encode(b":code").decode(), None),
        ("Basic " + base64.b64encode(b"ref:").decode(), None),
        ("Basic " + base64.b64encode(b"\xff:\xfe").decode(), None),
        ("Basic " + base64.b64encode(b"1:" + b"x" * 65).decode(), None),
    ],
)
def test_basic_credentials_parses_only_well_formed_headers(
    header: str | None, expected: tuple[str, str] | None
) -> None:
    assert est.basic_credentials(header) == expected


def test_certs_only_is_read_by_openssl(tmp_path: Path) -> None:
    key_path = tmp_path / "self.key"
    made = openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", str(key_path), "-subj", "/CN=Only One", "-days", "1",
    )  # fmt: skip
    cert = x509.load_pem_x509_certificate(made.stdout)
    body = est.certs_only([cert])
    assert max(len(line) for line in body.splitlines()) <= 76
    printed = print_certs(body, tmp_path, "out.pem")
    assert "CN=Only One" in subject_line(printed)


# -- through the application --------------------------------------------------------------


async def test_cacerts_is_the_ca_chain_as_openssl_reads_it(
    client: TestClient[Any, Any], tmp_path: Path
) -> None:
    response = await client.get("/.well-known/est/cacerts")
    assert response.status == 200
    assert response.content_type == "application/pkcs7-mime"
    printed = print_certs(await response.read(), tmp_path, "cacerts.pem")
    served = x509.load_pem_x509_certificates(printed.read_bytes())
    chain = x509.load_pem_x509_certificates((await ca_file(client, tmp_path)).read_bytes())
    assert set(served) == set(chain)
    assert len(served) == 2
    labelled = await client.get("/.well-known/est/client/cacerts")
    assert labelled.status == 200
    assert await labelled.read() == await response.read()


async def test_simpleenroll_issues_certificate_with_subject_from_record(
    client: TestClient[Any, Any], tmp_path: Path
) -> None:
    """The CSR asks for CN=Mallory, O=Evil; the certificate carries the enrollment's subject."""
    runtime = app_runtime(client)
    services = runtime.services
    created = await services.ra.create_enrollment(HOLDER, actor="test")
    body = der_csr_b64(tmp_path, subject="/CN=Mallory/O=Evil")
    response = await client.post(ENROLL, data=body, headers=auth(created))
    assert response.status == 200, await response.text()
    assert response.headers["Content-Type"] == "application/pkcs7-mime; smime-type=certs-only"
    leaf = print_certs(await response.read(), tmp_path, "leaf.pem")
    assert verify(await ca_file(client, tmp_path), leaf).returncode == 0
    assert subject_line(leaf) == "subject=CN=Test Holder 01,OU=RA Shanghai,OU=Branch 01,O=Acme Bank"
    cert = x509.load_pem_x509_certificate(leaf.read_bytes())
    record = await certificate_row(runtime.engine, format(cert.serial_number, "x"))
    assert record.delivery == "csr"
    assert (await enrollment_view(runtime.engine, created.reference_number)).status == "issued"
    issue_events = await audit_events(runtime, "certificate.issue")
    assert [e.detail["via"] for e in issue_events] == ["est"]


async def test_simpleenroll_accepts_pem_and_label_of_the_enrollments_profile(
    client: TestClient[Any, Any], tmp_path: Path
) -> None:
    created = await app_runtime(client).services.ra.create_enrollment(HOLDER, actor="test")
    _, pem = make_csr(tmp_path, key="rsa2048")
    response = await client.post(
        "/.well-known/est/client/simpleenroll", data=pem, headers=auth(created)
    )
    assert response.status == 200, await response.text()


async def test_simpleenroll_label_of_another_profile_is_refused_and_changes_nothing(
    client: TestClient[Any, Any], tmp_path: Path
) -> None:
    runtime = app_runtime(client)
    services = runtime.services
    created = await services.ra.create_enrollment(HOLDER, actor="test")
    body = der_csr_b64(tmp_path)
    before = await snapshot(runtime)
    other = await client.post(
        "/.well-known/est/client-keygen/simpleenroll", data=body, headers=auth(created)
    )
    assert other.status == 403
    assert "'client'" in (await other.json())["error"]["message"]
    unknown = await client.post(
        "/.well-known/est/nosuch/simpleenroll", data=body, headers=auth(created)
    )
    assert unknown.status == 404
    assert "client-keygen" in (await unknown.json())["error"]["message"]
    assert await snapshot(runtime) == before


async def test_simpleenroll_second_request_is_refused_as_already_issued(
    client: TestClient[Any, Any], tmp_path: Path
) -> None:
    runtime = app_runtime(client)
    services = runtime.services
    created = await services.ra.create_enrollment(HOLDER, actor="test")
    first = await client.post(ENROLL, data=der_csr_b64(tmp_path), headers=auth(created))
    assert first.status == 200
    second = await client.post(ENROLL, data=der_csr_b64(tmp_path), headers=auth(created))
    assert second.status == 409
    error = (await second.json())["error"]
    assert error["code"] == "enrollment_not_pending"
    assert "already been used to issue a certificate" in error["message"]
    assert await count_rows(runtime.engine, Certificate) == 1


async def test_simpleenroll_tells_issued_only_to_whoever_has_the_code(
    client: TestClient[Any, Any], tmp_path: Path
) -> None:
    """Without the right code, an issued enrollment answers like any wrong code (401)."""
    runtime = app_runtime(client)
    services = runtime.services
    created = await services.ra.create_enrollment(HOLDER, actor="test")
    first = await client.post(ENROLL, data=der_csr_b64(tmp_path), headers=auth(created))
    assert first.status == 200
    guess = await client.post(
        ENROLL, data=der_csr_b64(tmp_path), headers=auth(created, "ABCD-EFGH")
    )
    assert guess.status == 401
    assert (await guess.json())["error"]["code"] == "credentials_refused"


async def test_simpleenroll_makes_the_unused_link_unusable(
    client: TestClient[Any, Any], tmp_path: Path
) -> None:
    runtime = app_runtime(client)
    services = runtime.services
    created = await services.ra.create_enrollment(HOLDER, actor="test")
    issued = await client.post(ENROLL, data=der_csr_b64(tmp_path), headers=auth(created))
    assert issued.status == 200
    _, csr = make_csr(tmp_path)
    via_link = await client.post(
        f"/api/v1/enroll/{created.link.token}",
        json={
            "reference_number": created.reference_number,
            "authorization_code": created.authorization_code,
            "csr": csr,
        },
    )
    assert via_link.status == 409
    assert (await via_link.json())["error"]["code"] == "enrollment_not_pending"
    page = await client.get(f"/enroll/{created.link.token}")
    assert page.status == 409
    assert "already been issued" in await page.text()
    assert await count_rows(runtime.engine, Certificate) == 1


async def test_simpleenroll_wrong_codes_do_not_lock_the_holders_link(
    client: TestClient[Any, Any], tmp_path: Path
) -> None:
    """Finding 7: a stranger who knows the reference number cannot lock the holder out; past
    the limit the reference is refused on EST (the same 401), and the link still enrolls."""
    runtime = app_runtime(client)
    services = runtime.services
    created = await services.ra.create_enrollment(HOLDER, actor="test")
    body = der_csr_b64(tmp_path)
    wrong = auth(created, "AAAA-BBBB-CCCC-DDDD")
    answers = []
    for _ in range(8):
        response = await client.post(ENROLL, data=body, headers=wrong)
        assert response.headers["WWW-Authenticate"].startswith('Basic realm="certdesk EST"')
        answers.append((response.status, await response.json()))
    assert all(answer == answers[0] for answer in answers)
    assert answers[0][0] == 401
    refused = await client.post(ENROLL, data=body, headers=auth(created))  # over the limit
    assert (refused.status, await refused.json()) == answers[0]
    view = await enrollment_view(runtime.engine, created.reference_number)
    assert not view.locked
    assert view.failed_attempts == 0
    _, csr = make_csr(tmp_path)
    issued = await services.links.redeem_enrollment_link(
        created.link.token,
        reference_number=created.reference_number,
        authorization_code=created.authorization_code,
        csr=csr,
    )
    assert issued.serial


async def test_simpleenroll_unknown_wrong_and_locked_answer_alike(
    client: TestClient[Any, Any], cli: Cli, database_url: str, tmp_path: Path
) -> None:
    """Finding 7: unknown reference, wrong code, wrong code on a locked enrollment: the same
    status and body (once 401, 401 and 423)."""
    runtime = app_runtime(client)
    services = runtime.services
    locked = await services.ra.create_enrollment(HOLDER, actor="test")
    _, csr = make_csr(tmp_path)
    for _ in range(services.config.max_failed_attempts):  # the link path locks
        with pytest.raises(CertdeskError):
            await services.links.redeem_enrollment_link(
                locked.link.token,
                reference_number=locked.reference_number,
                authorization_code="AAAA-BBBB-CCCC-DDDD",
                csr=csr,
            )
    assert (await enrollment_view(runtime.engine, locked.reference_number)).locked
    known = await services.ra.create_enrollment(HOLDER, actor="test")
    body = der_csr_b64(tmp_path)
    unknown_reference = "1" if known.reference_number != "1111111111" else "2"
    answers = []
    for headers in (
        basic(unknown_reference * 10, "ABCD-EFGH"),
        auth(known, "ABCD-EFGH"),
        auth(locked, "ABCD-EFGH"),
    ):
        response = await client.post(ENROLL, data=body, headers=headers)
        answers.append(
            (response.status, await response.json(), response.headers["WWW-Authenticate"])
        )
    assert answers[0] == answers[1] == answers[2]
    assert answers[0][0] == 401
    right = await client.post(ENROLL, data=body, headers=auth(locked))
    assert right.status == 423  # only whoever has the code learns it is locked
    unlocked = cli(
        "ra", "unlock", locked.reference_number, env={"CERTDESK_DATABASE_URL": database_url}
    )
    assert unlocked.returncode == 0, unlocked.stderr
    accepted = await client.post(ENROLL, data=body, headers=auth(locked))
    assert accepted.status == 200


async def test_simpleenroll_many_refusals_from_one_source_answer_429_with_retry_after(
    client: TestClient[Any, Any], tmp_path: Path
) -> None:
    """Finding 7: refused credentials are limited per source address."""
    body = der_csr_b64(tmp_path)
    statuses = []
    for n in range(est.FAILURES_PER_SOURCE):
        response = await client.post(ENROLL, data=body, headers=basic(f"{n + 1:010d}", "ABCD-EFGH"))
        statuses.append(response.status)
    assert set(statuses) == {401}
    limited = await client.post(ENROLL, data=body, headers=basic("1234567890", "ABCD-EFGH"))
    assert limited.status == 429
    assert 0 < int(limited.headers["Retry-After"]) <= 900
    error = (await limited.json())["error"]
    assert error["code"] == "rate_limited"
    assert "Wait" in error["message"]


async def test_simpleenroll_unknown_reference_answers_like_a_wrong_code(
    client: TestClient[Any, Any], tmp_path: Path
) -> None:
    """No user enumeration: same status, headers and body; nothing is written for it."""
    runtime = app_runtime(client)
    services = runtime.services
    created = await services.ra.create_enrollment(HOLDER, actor="test")
    body = der_csr_b64(tmp_path)
    unknown_reference = "1" if created.reference_number != "1111111111" else "2"
    before = await snapshot(runtime)
    unknown = await client.post(
        ENROLL, data=body, headers=basic(unknown_reference * 10, "ABCD-EFGH")
    )
    assert await snapshot(runtime) == before
    wrong = await client.post(ENROLL, data=body, headers=auth(created, "ABCD-EFGH"))
    assert unknown.status == wrong.status == 401
    assert await unknown.json() == await wrong.json()
    assert unknown.headers["WWW-Authenticate"] == wrong.headers["WWW-Authenticate"]
    assert (await wrong.json())["error"]["code"] == "credentials_refused"


@pytest.mark.parametrize(
    "header",
    [None, "Bearer x", "Basic !!!", "Basic " + base64.b64encode(b"nocolon").decode()],
)
async def test_simpleenroll_without_usable_basic_auth_is_401_with_challenge(
    client: TestClient[Any, Any], tmp_path: Path, header: str | None
) -> None:
    headers = {**PKCS10, **({"Authorization": header} if header else {})}
    response = await client.post(ENROLL, data=der_csr_b64(tmp_path), headers=headers)
    assert response.status == 401
    assert response.headers["WWW-Authenticate"].startswith('Basic realm="certdesk EST"')
    error = (await response.json())["error"]
    assert error["code"] == "authentication_required"
    assert "reference number" in error["message"]


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        (b"%%% not base64 %%%", "application/pkcs10", 400, "csr_malformed"),
        (base64.b64encode(b"\x30\x03\x02\x01\x00garbage"), PKCS10_TYPE, 400, "csr_malformed"),
        (PEM_CERTIFICATE, PKCS10_TYPE, 400, "csr_malformed"),
        (b"", "application/pkcs10", 400, "csr_malformed"),
        (b"MIIB", "application/json", 415, "unsupported_media_type"),
        (b"MIIB", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
        (b"A" * (65 * 1024), "application/pkcs10", 413, "request_too_large"),
    ],
)  # fmt: skip
async def test_simpleenroll_bad_bodies_are_4xx_and_change_nothing(
    client: TestClient[Any, Any],
    body: bytes,
    content_type: str,
    status: int,
    code: str,
) -> None:
    runtime = app_runtime(client)
    services = runtime.services
    created = await services.ra.create_enrollment(HOLDER, actor="test")
    before = await snapshot(runtime)
    response = await client.post(
        ENROLL, data=body, headers={**auth(created), "Content-Type": content_type}
    )
    assert response.status == status
    assert (await response.json())["error"]["code"] == code
    assert await snapshot(runtime) == before


async def test_simpleenroll_weak_key_is_refused_and_enrollment_stays_pending(
    client: TestClient[Any, Any], tmp_path: Path
) -> None:
    runtime = app_runtime(client)
    services = runtime.services
    created = await services.ra.create_enrollment(HOLDER, actor="test")
    before = await snapshot(runtime)
    weak = await client.post(
        ENROLL, data=der_csr_b64(tmp_path, key="rsa1024"), headers=auth(created)
    )
    assert weak.status == 400
    assert (await weak.json())["error"]["code"] == "key_not_allowed"
    assert await snapshot(runtime) == before
    good = await client.post(ENROLL, data=der_csr_b64(tmp_path), headers=auth(created))
    assert good.status == 200


async def test_simpleenroll_concurrent_requests_issue_exactly_one_certificate(
    client: TestClient[Any, Any], tmp_path: Path
) -> None:
    runtime = app_runtime(client)
    services = runtime.services
    created = await services.ra.create_enrollment(HOLDER, actor="test")
    bodies = [der_csr_b64(tmp_path) for _ in range(10)]

    async def enroll(body: bytes) -> int:
        response = await client.post(ENROLL, data=body, headers=auth(created))
        await response.read()
        return response.status

    statuses = await asyncio.gather(*(enroll(body) for body in bodies))
    assert sorted(statuses) == [200] + [409] * 9
    assert await count_rows(runtime.engine, Certificate) == 1


async def test_simpleenroll_racing_the_link_issues_exactly_one_certificate(
    client: TestClient[Any, Any], tmp_path: Path
) -> None:
    """EST locks the enrollment, the link path the link: the enrollment claim decides."""
    runtime = app_runtime(client)
    services = runtime.services
    created = await services.ra.create_enrollment(HOLDER, actor="test")
    extra_links = [
        await services.ra.new_enrollment_link(created.reference_number, actor="test")
        for _ in range(4)
    ]
    _, csr = make_csr(tmp_path)
    body = der_csr_b64(tmp_path)

    async def via_est() -> int:
        response = await client.post(ENROLL, data=body, headers=auth(created))
        await response.read()
        return response.status

    async def via_link(token: str) -> int:
        response = await client.post(
            f"/api/v1/enroll/{token}",
            json={
                "reference_number": created.reference_number,
                "authorization_code": created.authorization_code,
                "csr": csr,
            },
        )
        await response.read()
        return response.status

    tokens = [created.link.token, *(link.token for link in extra_links)]
    statuses = await asyncio.gather(
        *(via_est() for _ in range(5)), *(via_link(token) for token in tokens)
    )
    assert len([s for s in statuses if s in (200, 201)]) == 1, statuses
    assert set(statuses) <= {200, 201, 409}, statuses
    assert await count_rows(runtime.engine, Certificate) == 1


async def test_simplereenroll_without_client_certificate_is_401_naming_it(
    client: TestClient[Any, Any], tmp_path: Path
) -> None:
    """No client certificate (plain HTTP, no trusted proxy): 401, no Basic challenge."""
    response = await client.post(
        "/.well-known/est/simplereenroll", data=der_csr_b64(tmp_path), headers=PKCS10
    )
    assert response.status == 401
    assert "WWW-Authenticate" not in response.headers
    error = (await response.json())["error"]
    assert error["code"] == "client_certificate_required"
    assert "--cert" in error["message"]


async def test_csrattrs_is_204_without_body(client: TestClient[Any, Any]) -> None:
    response = await client.get("/.well-known/est/csrattrs")
    assert response.status == 204
    assert await response.read() == b""


async def test_est_unknown_operation_is_404_and_wrong_method_405_as_json(
    client: TestClient[Any, Any],
) -> None:
    unknown = await client.post("/.well-known/est/serverkeygen", data=b"x")
    assert unknown.status == 404
    assert "simpleenroll" in (await unknown.json())["error"]["message"]
    wrong = await client.get(ENROLL)
    assert wrong.status == 405
    assert wrong.headers["Allow"] == "POST"
    assert (await wrong.json())["error"]["code"] == "method_not_allowed"


def test_pkcs7_certificates_loader_reads_cacerts_body(tmp_path: Path) -> None:
    """Our encoder and cryptography's decoder agree (the PKCS#7 is certs-only, DER)."""
    made = openssl(
        "req", "-x509", "-newkey", "ed25519", "-nodes", "-keyout", str(tmp_path / "k"),
        "-subj", "/CN=A", "-days", "1",
    )  # fmt: skip
    cert = x509.load_pem_x509_certificate(made.stdout)
    assert pkcs7.load_der_pkcs7_certificates(base64.b64decode(est.certs_only([cert]))) == [cert]
