"""CMP: the pure message code with hand-built requests, the services's derived-code redemption on
SQLite and PostgreSQL, and the real `certdesk serve` with the real `openssl cmp` as the client."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiohttp.test_utils import TestClient
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pyasn1.codec.der import encoder
from sqlalchemy import update
from sqlmodel import col, select

from bot.datadir import load_pepper
from bot.runtime import Runtime, open_runtime
from bot.settings import Settings
from common.time import utcnow
from enrollment import codes
from enrollment.ca.authority import build_subject
from enrollment.db import session_factory
from enrollment.errors import (
    CodeNotDerivable,
    CredentialsRefused,
    EnrollmentNotPending,
    LinkUsed,
)
from enrollment.models import AuditEvent, Certificate, Enrollment, OneTimeLink
from enrollment.protocols import cmp
from enrollment.protocols.cmp import CmpError, FailInfo
from enrollment.services import Services
from enrollment.services.results import ProvenKey
from tests.enrollment.conftest import HOLDER, app_runtime
from tests.support import cmp_messages, system
from tests.support.pki import assert_says_no_more, make_csr, openssl
from tests.support.processes import Cli, LiveServer, base_env, live_server
from tests.support.store import certificate_row, count_rows, enrollment_row, enrollment_view

T = TypeVar("T")
SECRET = b"ABCD-EFGH-JKMN-PQRS"
MAX_ATTEMPTS = 3


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def ir(secret: bytes | None = SECRET, **options: Any) -> bytes:
    return cmp_messages.request(cmp_messages.cert_request_body(new_key()), secret=secret, **options)


def self_signed(name: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = new_key()
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = utcnow()
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return cert, key


# -- the pure message code --------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [b"", b"not der at all", b"\x30\x82\xff\xff\x02\x01", ir()[:-5], ir() + b"\x00\x00"],
    ids=["empty", "garbage", "bad-length", "truncated", "trailing-data"],
)
def test_parse_malformed_input_refused_with_bad_data_format(data: bytes) -> None:
    with pytest.raises(CmpError) as caught:
        cmp.parse(data)
    assert caught.value.fail_info == FailInfo.BAD_DATA_FORMAT
    assert caught.value.http_status == 400


@pytest.mark.parametrize("flip", [0x01, 0x80, 0xFF])
def test_parse_mutated_messages_raise_only_cmp_errors(flip: int) -> None:
    """Every single-byte corruption of a valid ir is a CmpError (a refusal), never a crash."""
    valid = ir()
    for position in range(len(valid)):
        mutated = bytearray(valid)
        mutated[position] ^= flip
        try:
            request = cmp.parse(bytes(mutated))
            cmp.MacCheck(request)("ABCD-EFGH-JKMN-PQRS")
            cmp.cert_request(request)
        except CmpError:
            pass


def test_parse_oversized_message_refused_with_413() -> None:
    with pytest.raises(CmpError) as caught:
        cmp.parse(b"\x30" + b"\x00" * cmp.MAX_MESSAGE_BYTES)
    assert caught.value.http_status == 413


def test_parse_reads_header_facts() -> None:
    request = cmp.parse(ir(transaction_id=b"t" * 16, sender_nonce=b"n" * 16, implicit_confirm=True))
    assert request.body_type == "ir"
    assert request.reference == "1234567890"
    assert request.transaction_id == b"t" * 16
    assert request.sender_nonce == b"n" * 16
    assert request.implicit_confirm is True
    assert request.mac_parameters.iterations == 500


@pytest.mark.parametrize("typed", ["ABCD-EFGH-JKMN-PQRS", "ABCDEFGHJKMNPQRS"])
def test_mac_check_code_spellings_accepted(typed: str) -> None:
    """The holder may give the code as printed or without dashes."""
    check = cmp.MacCheck(cmp.parse(ir(secret=typed.encode())))
    assert check("ABCD-EFGH-JKMN-PQRS") is True
    assert check.secret == typed.encode()


def test_mac_check_wrong_code_refused() -> None:
    check = cmp.MacCheck(cmp.parse(ir()))
    assert check("ABCD-EFGH-JKMN-PQRT") is False
    assert check.secret is None


def test_mac_check_tampered_header_refused() -> None:
    """The MAC covers the header: another senderKID (reference number) breaks it."""
    message = cmp_messages.decode(ir())
    message["header"]["senderKID"] = message["header"]["senderKID"].clone(b"1234567891")
    tampered = cmp.parse(bytes(encoder.encode(message)))
    assert cmp.MacCheck(tampered)("ABCD-EFGH-JKMN-PQRS") is False


def test_mac_parameters_unprotected_request_refused() -> None:
    with pytest.raises(CmpError) as caught:
        cmp.MacCheck(cmp.parse(ir(secret=None)))
    assert caught.value.fail_info == FailInfo.BAD_MESSAGE_CHECK
    assert "-secret" in caught.value.text


def test_mac_parameters_excessive_iterations_refused() -> None:
    """A client must not make the server hash millions of times per request."""
    with pytest.raises(CmpError) as caught:
        cmp.MacCheck(cmp.parse(ir(iterations=cmp.MAX_PBM_ITERATIONS + 1)))
    assert caught.value.fail_info == FailInfo.BAD_MESSAGE_CHECK
    assert f"limit of {cmp.MAX_PBM_ITERATIONS}" in caught.value.text


def test_cert_request_signature_popo_gives_template_key() -> None:
    key = new_key()
    request = cmp.parse(cmp_messages.request(cmp_messages.cert_request_body(key), secret=SECRET))
    parsed = cmp.cert_request(request)
    assert parsed.cert_req_id == 0
    assert parsed.public_key == key.public_key()


def test_cert_request_ra_verified_popo_refused() -> None:
    """raVerified is an RA's claim; an end entity must prove possession itself."""
    body = cmp_messages.cert_request_body(new_key(), popo="raVerified")
    with pytest.raises(CmpError) as caught:
        cmp.cert_request(cmp.parse(cmp_messages.request(body, secret=SECRET)))
    assert caught.value.fail_info == FailInfo.BAD_POP
    assert "raVerified" in caught.value.text


def test_cert_request_popo_by_another_key_refused() -> None:
    body = cmp_messages.cert_request_body(new_key(), popo_key=new_key())
    with pytest.raises(CmpError) as caught:
        cmp.cert_request(cmp.parse(cmp_messages.request(body, secret=SECRET)))
    assert caught.value.fail_info == FailInfo.BAD_POP


def test_signature_protection_stale_message_time_refused() -> None:
    request = cmp.parse(ir())
    assert request.message_time is not None
    cmp.check_message_time(request, request.message_time + timedelta(minutes=5))
    with pytest.raises(CmpError) as caught:
        cmp.check_message_time(request, request.message_time + timedelta(minutes=11))
    assert caught.value.fail_info == FailInfo.BAD_TIME


def test_signature_protection_missing_refused() -> None:
    with pytest.raises(CmpError) as caught:
        cmp.verify_signature_protection(cmp.parse(ir(secret=None)))
    assert caught.value.fail_info == FailInfo.BAD_MESSAGE_CHECK


def test_responder_certificate_answer_is_bound_to_the_request() -> None:
    """The ip echoes transactionID and senderNonce, grants implicitConfirm, carries the root in
    caPubs and the chain in extraCerts, and its MAC verifies with the client's secret."""
    root, _ = self_signed("Root")
    issuing, _ = self_signed("Issuing")
    leaf, _ = self_signed("Leaf")
    request = cmp.parse(ir(implicit_confirm=True))
    check = cmp.MacCheck(request)
    assert check("ABCD-EFGH-JKMN-PQRS")
    responder = cmp.Responder(sender=issuing.subject, chain=(issuing, root))
    answer = responder.certificate(
        request,
        certificate=leaf,
        cert_req_id=0,
        sender_nonce=b"s" * 16,
        protection=cmp.Protection(secret=check.secret, pbm=request.mac_parameters),
    )
    assert cmp_messages.response_mac_valid(answer, SECRET)
    assert not cmp_messages.response_mac_valid(answer, b"ABCD-EFGH-JKMN-PQRT")
    message = cmp_messages.decode(answer)
    header = message["header"]
    assert bytes(header["transactionID"]) == request.transaction_id
    assert bytes(header["recipNonce"]) == request.sender_nonce
    assert bytes(header["senderNonce"]) == b"s" * 16
    assert str(header["generalInfo"][0]["infoType"]) == cmp_messages.IMPLICIT_CONFIRM
    ip = message["body"]["ip"]
    assert [encoder.encode(c) for c in ip["caPubs"]] == [
        root.public_bytes(serialization.Encoding.DER)
    ]
    assert [encoder.encode(c) for c in message["extraCerts"]] == [
        c.public_bytes(serialization.Encoding.DER) for c in (issuing, root)
    ]
    response = ip["response"][0]
    assert int(response["status"]["status"]) == 0
    assert encoder.encode(response["certifiedKeyPair"]["certOrEncCert"]["certificate"]).endswith(
        leaf.public_bytes(serialization.Encoding.DER)[2:]
    )


def test_responder_rejection_unprotected_carries_fail_info_and_text() -> None:
    issuing, _ = self_signed("Issuing")
    responder = cmp.Responder(sender=issuing.subject, chain=(issuing,))
    answer = responder.rejection(cmp.parse(ir()), FailInfo.BAD_MESSAGE_CHECK, "wrong code")
    message = cmp_messages.decode(answer)
    assert not message["protection"].isValue
    assert cmp_messages.status_text(answer) == (2, "wrong code", [FailInfo.BAD_MESSAGE_CHECK])
    without_request = responder.rejection(None, FailInfo.BAD_DATA_FORMAT, "not DER")
    assert cmp_messages.status_text(without_request) == (2, "not DER", [FailInfo.BAD_DATA_FORMAT])


def test_derive_code_stable_keyed_and_well_formed() -> None:
    pepper = codes.Pepper(b"p" * 32)
    code = pepper.derive_code("1234567890", "aa" * 16)
    assert code == pepper.derive_code("1234567890", "aa" * 16)
    assert code != pepper.derive_code("1234567890", "ab" * 16)
    assert code != pepper.derive_code("1234567891", "aa" * 16)
    assert code != codes.Pepper(b"q" * 32).derive_code("1234567890", "aa" * 16)
    groups = code.split("-")
    assert [len(g) for g in groups] == [4, 4, 4, 4]
    assert set("".join(groups)) <= set(codes.CODE_ALPHABET)


# -- the services: derived codes and redemption by reference number ---------------------------


def proof_of(code: str) -> Callable[[str], bool]:
    return lambda candidate: candidate == code


async def test_create_enrollment_code_derived_from_pepper_and_salt(
    runtime: Runtime,
    services: Services,
) -> None:
    created = await services.ra.create_enrollment(HOLDER, actor="test")
    enrollment = await enrollment_row(runtime.engine, created.reference_number)
    assert enrollment.code_salt is not None
    derived = load_pepper(runtime.settings).derive_code(
        created.reference_number, enrollment.code_salt
    )
    assert derived == created.authorization_code
    assert load_pepper(runtime.settings).code_matches(
        created.authorization_code, enrollment.authorization_code_hash
    )
    assert created.authorization_code not in enrollment.model_dump_json()


async def test_redeem_with_derived_code_issues_once_and_the_link_refuses_afterwards(
    runtime: Runtime,
    services: Services,
) -> None:
    created = await services.ra.create_enrollment(HOLDER, actor="test")
    key = new_key()
    issued = await services.by_reference.redeem_with_derived_code(
        created.reference_number,
        proves_code=proof_of(created.authorization_code),
        key=ProvenKey(public_key=key.public_key()),
    )
    assert issued.certificate.subject == build_subject(cn=HOLDER.cn, ous=HOLDER.ous, o=HOLDER.o)
    assert issued.certificate.public_key() == key.public_key()
    record = await certificate_row(runtime.engine, issued.serial)
    assert record.delivery == "cmp"
    with pytest.raises(EnrollmentNotPending):
        await services.by_reference.redeem_with_derived_code(
            created.reference_number,
            proves_code=proof_of(created.authorization_code),
            key=ProvenKey(public_key=new_key().public_key()),
        )
    _, csr = make_csr_in_memory()
    with pytest.raises(EnrollmentNotPending):
        await services.links.redeem_enrollment_link(
            created.link.token,
            reference_number=created.reference_number,
            authorization_code=created.authorization_code,
            csr=csr,
        )
    async with session_factory(runtime.engine)() as session:
        events = (
            await session.execute(
                select(AuditEvent).where(col(AuditEvent.action) == "certificate.issue")
            )
        ).scalars()
        assert [e.detail["via"] for e in events] == ["cmp"]
        links = (await session.execute(select(OneTimeLink))).scalars().all()
        assert [link.used_at for link in links] == [None]  # the status check refuses it
    assert await count_rows(runtime.engine, Certificate) == 1


def make_csr_in_memory() -> tuple[ec.EllipticCurvePrivateKey, str]:
    key = new_key()
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")]))
        .sign(key, hashes.SHA256())
    )
    return key, csr.public_bytes(serialization.Encoding.PEM).decode()


async def test_cmp_est_and_links_racing_for_one_enrollment_issue_exactly_one_certificate(
    runtime: Runtime, services: Services, tmp_path: Path
) -> None:
    """CMP, EST and the link path share one issuing core: whatever wins, the others refuse."""
    created = await services.ra.create_enrollment(HOLDER, actor="test")
    second = await services.ra.new_enrollment_link(created.reference_number, actor="test")
    _, csr = make_csr(tmp_path)
    code = created.authorization_code

    async def via_cmp() -> object:
        return await services.by_reference.redeem_with_derived_code(
            created.reference_number,
            proves_code=proof_of(code),
            key=ProvenKey(public_key=new_key().public_key()),
        )

    async def via_est() -> object:
        return await services.by_reference.redeem_by_reference(
            created.reference_number, authorization_code=code, csr=csr
        )

    async def via_link(token: str) -> object:
        return await services.links.redeem_enrollment_link(
            token, reference_number=created.reference_number, authorization_code=code, csr=csr
        )

    attempts = [
        attempt
        for _ in range(3)
        for attempt in (via_cmp(), via_est(), via_link(created.link.token), via_link(second.token))
    ]
    results = await asyncio.gather(*attempts, return_exceptions=True)
    issued = [r for r in results if hasattr(r, "certificate")]
    assert len(issued) == 1, results
    assert all(isinstance(r, EnrollmentNotPending | LinkUsed) for r in results if r not in issued)
    assert await count_rows(runtime.engine, Certificate) == 1


async def test_redeem_with_derived_code_wrong_proofs_refused_alike_and_never_lock(
    migrated: Settings, settings_factory: Callable[..., Settings]
) -> None:
    """Finding 7: protocol failures are counted apart from the enrollment (in memory, per
    reference number): past the limit the reference is refused, the enrollment never locks."""
    async with open_runtime(settings_factory(max_failed_attempts=2)) as runtime:
        services = runtime.services
        created = await services.ra.create_enrollment(HOLDER, actor="test")
        key = ProvenKey(public_key=new_key().public_key())
        reference = created.reference_number
        for _ in range(2):
            with pytest.raises(CredentialsRefused):
                await services.by_reference.redeem_with_derived_code(
                    reference, proves_code=proof_of("no"), key=key
                )
        with pytest.raises(CredentialsRefused):  # over the limit: refused like a wrong code
            await services.by_reference.redeem_with_derived_code(
                reference, proves_code=proof_of(created.authorization_code), key=key
            )
        view = await enrollment_view(runtime.engine, reference)
        assert (view.locked, view.failed_attempts) == (False, 0)
        _, csr = make_csr_in_memory()
        issued = await services.links.redeem_enrollment_link(
            created.link.token,
            reference_number=reference,
            authorization_code=created.authorization_code,
            csr=csr,
        )
        assert issued.serial


async def test_redeem_with_derived_code_unknown_reference_does_the_same_work(
    services: Services,
) -> None:
    tried: list[str] = []

    def proof(code: str) -> bool:
        tried.append(code)
        return False

    with pytest.raises(CredentialsRefused):
        await services.by_reference.redeem_with_derived_code(
            "1111111111", proves_code=proof, key=ProvenKey(public_key=new_key().public_key())
        )
    assert len(tried) == 1  # a proof was computed, as for a known reference number


async def test_redeem_with_derived_code_enrollment_without_salt_refused(
    runtime: Runtime,
    services: Services,
) -> None:
    """Enrollments made before derived codes cannot be checked: a clear error, nothing counted."""
    created = await services.ra.create_enrollment(HOLDER, actor="test")
    async with session_factory(runtime.engine)() as session, session.begin():
        await session.execute(update(Enrollment).values(code_salt=None))
    with pytest.raises(CodeNotDerivable, match="one-time download link"):
        await services.by_reference.redeem_with_derived_code(
            created.reference_number,
            proves_code=proof_of(created.authorization_code),
            key=ProvenKey(public_key=new_key().public_key()),
        )
    assert (await enrollment_view(runtime.engine, created.reference_number)).failed_attempts == 0


async def test_renew_page_offers_a_csr_for_a_certificate_issued_over_cmp(
    client: TestClient[Any, Any],
) -> None:
    """The renewal page has no "cmp" mode: a CMP holder renews with a CSR (or with kur)."""
    runtime = app_runtime(client)
    services = runtime.services
    created = await services.ra.create_enrollment(HOLDER, actor="test")
    issued = await services.by_reference.redeem_with_derived_code(
        created.reference_number,
        proves_code=proof_of(created.authorization_code),
        key=ProvenKey(public_key=new_key().public_key()),
    )
    renewal = await services.renewal.create_renewal_link(issued.serial, actor="test")
    response = await client.get(f"/renew/{renewal.link.token}")
    html = await response.text()
    radio = re.search(rf'<input[^>]*value="{issued.serial}"[^>]*>', html)
    assert response.status == 200
    assert radio is not None
    assert 'data-delivery="csr"' in radio.group(0)


# -- the real server with the real `openssl cmp` ---------------------------------------------


@dataclass(frozen=True)
class CmpRun:
    returncode: int
    output: str


@dataclass
class Desk:
    server: LiveServer
    cli: Cli
    data_dir: Path
    database_url: str | None

    def settings(self) -> Settings:
        return Settings(
            _env_file=None,  # type: ignore[call-arg]
            data_dir=self.data_dir,
            database_url_=self.database_url,
            public_url=self.server.url,
            slack_bot_token=None,
            slack_signing_secret=None,
            slack_app_token=None,
        )

    def call(self, work: Callable[[Runtime], Awaitable[T]]) -> T:
        async def go() -> T:
            async with open_runtime(self.settings()) as runtime:
                return await work(runtime)

        with ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, go()).result()

    def issue(self, cn: str = "Test Holder 01") -> dict[str, str]:
        result = self.cli(
            "ra", "issue", "--cn", cn, "--ou", "Branch 01", "--ou", "RA Shanghai",
            "--o", "Acme Bank", "--json",
        )  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr
        data: dict[str, str] = json.loads(result.stdout)
        return data

    def enrollment(self, reference: str) -> Enrollment:
        return self.call(lambda runtime: enrollment_row(runtime.engine, reference))

    def openssl_cmp(self, *args: str) -> CmpRun:
        """`openssl cmp` against the desk; its messages (stdout and stderr) in one text."""
        result = subprocess.run(
            [
                system.binary("openssl", "openssl"), "cmp",
                "-server", self.server.url.removeprefix("http://"), "-path", ".well-known/cmp",
                "-unprotected_errors", *args,
            ],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60, check=False,
        )  # fmt: skip
        return CmpRun(returncode=result.returncode, output=result.stdout)

    def enroll(
        self, created: dict[str, str], directory: Path, *extra: str, secret: str | None = None
    ) -> CmpRun:
        key = directory / "key.pem"
        if not key.exists():
            made = openssl("genpkey", "-algorithm", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                           "-out", str(key))  # fmt: skip
            assert made.returncode == 0
        return self.openssl_cmp(
            "-cmd", "ir",
            "-ref", created["reference_number"],
            "-secret", f"pass:{secret or created['authorization_code']}",
            "-newkey", str(key), "-subject", "/CN=Someone Else/O=Not The RA",
            "-certout", str(directory / "cert.pem"),
            "-cacertsout", str(directory / "root.pem"),
            "-extracertsout", str(directory / "chain.pem"),
            *extra,
        )  # fmt: skip


def start_desk(data_dir: Path, database_url: str | None) -> Iterator[Desk]:
    system.binary("openssl", "openssl")
    extra = {"CERTDESK_MAX_FAILED_ATTEMPTS": str(MAX_ATTEMPTS), "CERTDESK_SERVE_REMINDERS": "false"}
    if database_url is not None:
        extra["CERTDESK_DATABASE_URL"] = database_url
    env = base_env(data_dir, extra)
    cli = Cli(env)
    if database_url is not None:
        assert cli("db", "upgrade").returncode == 0
    with live_server(env) as server:
        yield Desk(server=server, cli=cli, data_dir=data_dir, database_url=database_url)


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    """One real server on embedded SQLite for the protocol tests of this module."""
    yield from start_desk(tmp_path_factory.mktemp("cmp-desk"), None)


def cert_subject(path: Path) -> x509.Name:
    return x509.load_pem_x509_certificate(path.read_bytes()).subject


def refusal(result: CmpRun) -> str:
    assert result.returncode != 0, result.output
    return result.output


def test_cmp_ir_with_certconf_issues_the_record_subject(desk: Desk, tmp_path: Path) -> None:
    created = desk.issue()
    result = desk.enroll(created, tmp_path)
    assert result.returncode == 0, result.output
    assert "sending CERTCONF" in result.output
    assert "received PKICONF" in result.output
    cert_path = tmp_path / "cert.pem"
    assert cert_subject(cert_path) == build_subject(
        cn="Test Holder 01", ous=["Branch 01", "RA Shanghai"], o="Acme Bank"
    )
    verified = openssl("verify", "-CAfile", str(tmp_path / "root.pem"),
                       "-untrusted", str(tmp_path / "chain.pem"), str(cert_path))  # fmt: skip
    assert verified.returncode == 0, verified.stderr
    key = serialization.load_pem_private_key((tmp_path / "key.pem").read_bytes(), None)
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    assert cert.public_key() == key.public_key()
    enrollment = desk.enrollment(created["reference_number"])
    assert enrollment.status == "issued"
    record = desk.call(lambda r: certificate_row(r.engine, format(cert.serial_number, "x")))
    assert record.delivery == "cmp"
    assert created["authorization_code"] not in desk.server.log()

    # the one-time link of an enrollment issued over CMP no longer works
    token = created["link"].rsplit("/", 1)[1]
    body = json.dumps(
        {
            "reference_number": created["reference_number"],
            "authorization_code": created["authorization_code"],
            "csr": make_csr(tmp_path)[1],
        }
    ).encode()
    post = urllib.request.Request(  # noqa: S310
        f"{desk.server.url}/api/v1/enroll/{token}",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(post, timeout=10)  # noqa: S310
    assert caught.value.code == 409
    assert json.load(caught.value)["error"]["code"] == "enrollment_not_pending"


def test_cmp_ir_implicit_confirm_sends_no_certconf(desk: Desk, tmp_path: Path) -> None:
    result = desk.enroll(desk.issue(), tmp_path, "-implicit_confirm")
    assert result.returncode == 0, result.output
    assert "CERTCONF" not in result.output
    assert (tmp_path / "cert.pem").exists()


def test_cmp_cr_issues_certificate(desk: Desk, tmp_path: Path) -> None:
    created = desk.issue("CR Holder")
    key = tmp_path / "key.pem"
    openssl("genpkey", "-algorithm", "rsa", "-pkeyopt", "rsa_keygen_bits:2048", "-out", str(key))
    result = desk.openssl_cmp(
        "-cmd", "cr", "-ref", created["reference_number"],
        "-secret", f"pass:{created['authorization_code']}",
        "-newkey", str(key), "-subject", "/CN=x", "-certout", str(tmp_path / "cert.pem"),
    )  # fmt: skip
    assert result.returncode == 0, result.output
    assert (
        cert_subject(tmp_path / "cert.pem").get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
        == "CR Holder"
    )


def test_cmp_p10cr_issues_certificate_for_the_csr_key(desk: Desk, tmp_path: Path) -> None:
    created = desk.issue("P10 Holder")
    key_path, csr = make_csr(tmp_path, subject="/CN=Someone Else")
    (tmp_path / "req.pem").write_text(csr)
    result = desk.openssl_cmp(
        "-cmd", "p10cr", "-ref", created["reference_number"],
        "-secret", f"pass:{created['authorization_code'].replace('-', '')}",
        "-csr", str(tmp_path / "req.pem"), "-certout", str(tmp_path / "cert.pem"),
    )  # fmt: skip
    assert result.returncode == 0, result.output
    cert = x509.load_pem_x509_certificate((tmp_path / "cert.pem").read_bytes())
    key = serialization.load_pem_private_key(key_path.read_bytes(), None)
    assert cert.public_key() == key.public_key()
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "P10 Holder"


def test_cmp_wrong_secret_refused_and_not_counted_on_the_enrollment(
    desk: Desk, tmp_path: Path
) -> None:
    created = desk.issue()
    output = refusal(desk.enroll(created, tmp_path, secret="WRNG-WRNG-WRNG-WRNG"))
    assert "badMessageCheck" in output
    assert "authorization code (-secret" in output
    assert desk.enrollment(created["reference_number"]).failed_attempts == 0
    result = desk.enroll(created, tmp_path)  # the right code still works
    assert result.returncode == 0, result.output


def test_cmp_wrong_codes_never_lock_and_locked_answers_like_wrong(
    desk: Desk, tmp_path: Path
) -> None:
    """Finding 7: many wrong codes do not lock the enrollment; a wrong code on a locked one
    answers exactly like an unknown reference number; only the right code hears "locked"."""
    created = desk.issue()
    reference = created["reference_number"]
    for _ in range(MAX_ATTEMPTS + 1):
        refusal(desk.enroll(created, tmp_path, secret="WRNG-WRNG-WRNG-WRNG"))
    assert desk.enrollment(reference).locked_at is None

    locked = desk.issue()
    desk.call(lambda r: lock(r, locked["reference_number"]))
    wrong_on_locked = refusal(desk.enroll(locked, tmp_path, secret="WRNG-WRNG-WRNG-WRNG"))
    unknown = refusal(desk.enroll({**locked, "reference_number": "1000000001"}, tmp_path / ".."))

    def status(stderr: str) -> list[str]:
        return [line for line in stderr.splitlines() if "StatusString" in line or "ailure" in line]

    assert status(wrong_on_locked) == status(unknown)
    assert "badMessageCheck" in wrong_on_locked
    output = refusal(desk.enroll(locked, tmp_path))
    assert "notAuthorized" in output
    assert f"certdesk ra unlock {locked['reference_number']}" in output
    assert desk.cli("ra", "unlock", locked["reference_number"]).returncode == 0
    result = desk.enroll(locked, tmp_path)
    assert result.returncode == 0, result.output


async def lock(runtime: Runtime, reference: str) -> None:
    async with session_factory(runtime.engine)() as session, session.begin():
        await session.execute(
            update(Enrollment)
            .where(Enrollment.reference_number == reference)  # type: ignore[arg-type]
            .values(locked_at=utcnow(), failed_attempts=MAX_ATTEMPTS)
        )


def test_cmp_second_ir_refused(desk: Desk, tmp_path: Path) -> None:
    """An enrollment issues once: a second ir (even with a new key) is refused, clearly."""
    created = desk.issue()
    assert desk.enroll(created, tmp_path).returncode == 0
    (tmp_path / "cert.pem").unlink()
    (tmp_path / "key.pem").unlink()
    output = refusal(desk.enroll(created, tmp_path))
    assert "already been used to issue a certificate" in output
    assert not (tmp_path / "cert.pem").exists()
    _, certificates = desk.call(
        lambda r: r.services.by_reference.authenticate_with_derived_code(
            created["reference_number"], proves_code=proof_of(created["authorization_code"])
        )
    )
    assert len(certificates) == 1


def test_cmp_unknown_reference_answers_like_a_wrong_code(desk: Desk, tmp_path: Path) -> None:
    """No enumeration through the answer text: unknown number and wrong code read the same."""
    created = desk.issue()
    wrong_code = refusal(desk.enroll(created, tmp_path, secret="WRNG-WRNG-WRNG-WRNG"))
    unknown = refusal(desk.enroll({**created, "reference_number": "1000000001"}, tmp_path / ".."))

    def status_line(stderr: str) -> str:
        return next(line for line in stderr.splitlines() if "StatusString" in line)

    assert status_line(unknown) == status_line(wrong_code)


def test_cmp_ra_verified_popo_refused(desk: Desk, tmp_path: Path) -> None:
    created = desk.issue()
    output = refusal(desk.enroll(created, tmp_path, "-popo", "0"))
    assert "badPOP" in output
    assert "raVerified" in output
    assert desk.enrollment(created["reference_number"]).status == "pending"


def test_cmp_certconf_rejection_revokes_the_certificate(desk: Desk, tmp_path: Path) -> None:
    """A client that rejects the new certificate (here: not trusted) gets it revoked."""
    created = desk.issue()
    other, _ = self_signed("Someone Else's Root")
    (tmp_path / "other.pem").write_bytes(other.public_bytes(serialization.Encoding.PEM))
    result = desk.enroll(created, tmp_path, "-out_trusted", str(tmp_path / "other.pem"))
    assert result.returncode != 0
    assert "sending CERTCONF" in result.output
    certificates = desk.call(
        lambda r: r.services.by_reference.authenticate_with_derived_code(
            created["reference_number"], proves_code=proof_of(created["authorization_code"])
        )
    )[1]
    assert [c.status for c in certificates] == ["revoked"]


def kur(desk: Desk, directory: Path, cert: Path, key: Path, *extra: str) -> CmpRun:
    new_key = directory / "new.key"
    if not new_key.exists():
        openssl("genpkey", "-algorithm", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-out", str(new_key))  # fmt: skip
    return desk.openssl_cmp(
        "-cmd", "kur", "-trusted", str(directory / "root.pem"),
        "-untrusted", str(directory / "chain.pem"),
        "-cert", str(cert), "-key", str(key), "-newkey", str(new_key),
        "-certout", str(directory / "new.pem"), *extra,
    )  # fmt: skip


def test_cmp_kur_renews_an_active_certificate_once(desk: Desk, tmp_path: Path) -> None:
    """kur signed with the current key: a new certificate with the record's subject, the CA-
    signed kup verified by openssl against the root, certConf, the old one superseded."""
    created = desk.issue("KUR Holder")
    assert desk.enroll(created, tmp_path).returncode == 0
    old_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    result = kur(desk, tmp_path, old_path, key_path)
    assert result.returncode == 0, result.output
    assert "received KUP" in result.output
    assert "received PKICONF" in result.output
    old = x509.load_pem_x509_certificate(old_path.read_bytes())
    new = x509.load_pem_x509_certificate((tmp_path / "new.pem").read_bytes())
    assert new.subject == old.subject
    new_key = serialization.load_pem_private_key((tmp_path / "new.key").read_bytes(), None)
    assert new.public_key() == new_key.public_key()
    verified = openssl(
        "verify", "-CAfile", str(tmp_path / "root.pem"),
        "-untrusted", str(tmp_path / "chain.pem"), str(tmp_path / "new.pem"),
    )  # fmt: skip
    assert verified.returncode == 0, verified.stderr
    old_record = desk.call(lambda r: certificate_row(r.engine, format(old.serial_number, "x")))
    assert old_record.status == "superseded"
    assert old_record.superseded_by == format(new.serial_number, "x")

    again = refusal(kur(desk, tmp_path, old_path, key_path))
    assert "certRevoked" in again
    assert "superseded" in again


WIDER_TEMPLATE = """
[widen]
subjectAltName = DNS:intranet.example, email:someone@elsewhere.example
extendedKeyUsage = serverAuth, codeSigning, OCSPSigning, clientAuth
keyUsage = critical, digitalSignature, keyCertSign, cRLSign
basicConstraints = critical, CA:TRUE
"""


def test_cmp_kur_asking_for_more_gets_what_the_current_certificate_says(
    desk: Desk, tmp_path: Path
) -> None:
    """A kur whose template asks for another CN, OU and O, more names, server/code/OCSP
    signing and CA: the template's subject and extensions are ignored (RFC 9483 4.1.3 leaves
    them to the CA); the new certificate says what the one it renews says, profile too."""
    made = desk.cli(
        "ra", "issue", "--cn", "KUR Wide", "--ou", "Branch 01", "--o", "Acme Bank",
        "--email", "kur@example.com", "--profile", "smime", "--json",
    )  # fmt: skip
    assert made.returncode == 0, made.output
    assert desk.enroll(json.loads(made.stdout), tmp_path).returncode == 0
    (tmp_path / "widen.cnf").write_text(WIDER_TEMPLATE)
    result = kur(
        desk, tmp_path, tmp_path / "cert.pem", tmp_path / "key.pem",
        "-subject", "/O=Other Org/OU=Other Unit/CN=Someone Else", "-san_nodefault",
        "-config", str(tmp_path / "widen.cnf"), "-reqexts", "widen",
        "-policy_oids", "1.3.6.1.4.1.99999.1", "-reqout", str(tmp_path / "kur.der"),
    )  # fmt: skip
    assert result.returncode == 0, result.output
    sent = (tmp_path / "kur.der").read_bytes()  # the template did ask for all that
    assert b"Someone Else" in sent
    assert b"intranet.example" in sent
    old = x509.load_pem_x509_certificate((tmp_path / "cert.pem").read_bytes())
    new = x509.load_pem_x509_certificate((tmp_path / "new.pem").read_bytes())
    assert_says_no_more(old, new)
    names = new.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.RFC822Name) == ["kur@example.com"]
    rows = desk.call(
        lambda r: asyncio.gather(
            certificate_row(r.engine, format(old.serial_number, "x")),
            certificate_row(r.engine, format(new.serial_number, "x")),
        )
    )
    assert [row.profile for row in rows] == ["smime", "smime"]
    assert rows[0].superseded_by == rows[1].serial


def test_cmp_kur_foreign_certificate_refused(desk: Desk, tmp_path: Path) -> None:
    """A certificate another CA issued with the same subject renews nothing."""
    created = desk.issue()
    assert desk.enroll(created, tmp_path).returncode == 0
    other_ca, other_ca_key = self_signed("Another CA")
    foreign_key = new_key()
    now = utcnow()
    foreign = (
        x509.CertificateBuilder()
        .subject_name(cert_subject(tmp_path / "cert.pem"))
        .issuer_name(other_ca.subject)
        .public_key(foreign_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(other_ca_key, hashes.SHA256())
    )
    (tmp_path / "foreign.pem").write_bytes(foreign.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "foreign.key").write_bytes(
        foreign_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    before = desk.call(lambda r: count_rows(r.engine, Certificate))
    output = refusal(kur(desk, tmp_path, tmp_path / "foreign.pem", tmp_path / "foreign.key"))
    assert "signerNotTrusted" in output
    assert "not issued by this certdesk CA" in output
    assert desk.call(lambda r: count_rows(r.engine, Certificate)) == before


def test_cmp_kur_with_mac_refused(desk: Desk, tmp_path: Path) -> None:
    created = desk.issue()
    assert desk.enroll(created, tmp_path).returncode == 0
    output = refusal(
        desk.openssl_cmp(
            "-cmd", "kur", "-ref", created["reference_number"],
            "-secret", f"pass:{created['authorization_code']}",
            "-oldcert", str(tmp_path / "cert.pem"), "-newkey", str(tmp_path / "key.pem"),
            "-certout", str(tmp_path / "new.pem"),
        )
    )  # fmt: skip
    assert "must be signed with the current certificate's key" in output


def post_raw(url: str, body: bytes, content_type: str) -> tuple[int, bytes, str]:
    request = urllib.request.Request(  # noqa: S310
        url, data=body, headers={"Content-Type": content_type}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, response.read(), response.headers["Content-Type"]
    except urllib.error.HTTPError as error:
        return error.code, error.read(), error.headers["Content-Type"]


def test_cmp_http_level_errors_answer_cmp_messages_and_change_nothing(desk: Desk) -> None:
    url = f"{desk.server.url}/.well-known/cmp"

    def counts() -> tuple[int, int, int]:
        async def work(runtime: Runtime) -> tuple[int, int, int]:
            return (
                await count_rows(runtime.engine, Enrollment),
                await count_rows(runtime.engine, Certificate),
                await count_rows(runtime.engine, AuditEvent),
            )

        return desk.call(work)

    before = counts()
    cases = [
        (ir(), "application/json", 415, FailInfo.BAD_DATA_FORMAT),
        (b"\x30\x03\x02\x01", cmp.CONTENT_TYPE, 400, FailInfo.BAD_DATA_FORMAT),
        (b"\x30" * (cmp.MAX_MESSAGE_BYTES + 10), cmp.CONTENT_TYPE, 413, FailInfo.BAD_DATA_FORMAT),
        (ir(secret=None), cmp.CONTENT_TYPE, 200, FailInfo.BAD_MESSAGE_CHECK),
        (
            cmp_messages.request(cmp_messages.cert_request_body(new_key(), body_type="krr"),
                                 secret=SECRET),
            cmp.CONTENT_TYPE, 200, FailInfo.BAD_REQUEST,
        ),
    ]  # fmt: skip
    for body, content_type, status, fail_info in cases:
        got, answer, answer_type = post_raw(url, body, content_type)
        assert (got, answer_type) == (status, cmp.CONTENT_TYPE), answer
        assert cmp_messages.status_text(answer)[2] == [fail_info]
    assert counts() == before


async def test_cmp_lifecycle_on_sqlite_and_postgresql(database_url: str, tmp_path: Path) -> None:
    """ir with certConf, a second ir refused, a wrong code counted: on both databases."""
    url = None if database_url.startswith("sqlite") else database_url
    data_dir = tmp_path / "data"
    data_dir.mkdir(exist_ok=True)

    def run() -> None:
        for desk in start_desk(data_dir, url):
            created = desk.issue()
            wrong = refusal(desk.enroll(created, tmp_path, secret="WRNG-WRNG-WRNG-WRNG"))
            assert "badMessageCheck" in wrong
            result = desk.enroll(created, tmp_path)
            assert result.returncode == 0, result.output
            assert "already been used" in refusal(desk.enroll(created, tmp_path))
            enrollment = desk.enrollment(created["reference_number"])
            assert (enrollment.status, enrollment.failed_attempts) == ("issued", 0)

    await asyncio.to_thread(run)


async def test_cmp_refusals_from_one_source_answer_alike_then_429_with_retry_after(
    client: TestClient[Any, Any],
) -> None:
    """Finding 7: unknown reference and wrong code give the same status, text and failInfo;
    after FAILURES_PER_SOURCE such refusals from one address, 429 with Retry-After."""
    from enrollment.protocols.cmp import http as cmp_http

    runtime = app_runtime(client)
    created = await runtime.services.ra.create_enrollment(HOLDER, actor="test")
    headers = {"Content-Type": cmp.CONTENT_TYPE}
    answers = []
    for n in range(cmp_http.FAILURES_PER_SOURCE):
        reference = created.reference_number if n % 2 else f"{n + 1:010d}"
        response = await client.post(
            "/.well-known/cmp", data=ir(reference=reference.encode()), headers=headers
        )
        assert response.status == 200
        answers.append(cmp_messages.status_text(await response.read()))
    assert all(answer == answers[0] for answer in answers)
    assert answers[0][2] == [FailInfo.BAD_MESSAGE_CHECK]
    limited = await client.post("/.well-known/cmp", data=ir(), headers=headers)
    assert limited.status == 429
    assert 0 < int(limited.headers["Retry-After"]) <= 900
    assert "Wait" in cmp_messages.status_text(await limited.read())[1]
    assert (await enrollment_view(runtime.engine, created.reference_number)).failed_attempts == 0
