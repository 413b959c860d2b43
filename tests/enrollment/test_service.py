"""The enrollment services on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID
from sqlmodel import select

from bot.runtime import Runtime
from enrollment.db import session_factory
from enrollment.errors import (
    CredentialsRefused,
    CsrMalformed,
    CsrSignatureInvalid,
    EnrollmentLocked,
    EnrollmentNotPending,
    KeyNotAllowed,
    LinkExpired,
    LinkUnknown,
    LinkUsed,
    WrongCredentials,
)
from enrollment.models import AuditEvent, Certificate, Enrollment, OneTimeLink
from enrollment.services import EnrollmentCreate, Services
from enrollment.services.ra import NewEnrollment
from enrollment.types import utcnow
from tests.support.pki import make_csr
from tests.support.store import count_rows, enrollment_view

REQUEST = EnrollmentCreate(cn="Test Holder 01", ous=["Branch 01", "RA Shanghai"], o="Acme Bank")


async def create(services: Services) -> NewEnrollment:
    return await services.ra.create_enrollment(REQUEST, actor="test")


async def redeem(services: Services, created: NewEnrollment, csr: str, code: str | None = None):
    return await services.links.redeem_enrollment_link(
        created.link.token,
        reference_number=created.reference_number,
        authorization_code=code or created.authorization_code,
        csr=csr,
    )


async def snapshot(runtime: Runtime) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table, to prove that a refused request changed nothing."""
    sessions = session_factory(runtime.engine)
    rows: dict[str, list[tuple[object, ...]]] = {}
    async with sessions() as session:
        for model in (Enrollment, Certificate, OneTimeLink, AuditEvent):
            result = (await session.execute(select(model))).scalars()
            rows[model.__name__] = sorted(
                (tuple(sorted(r.model_dump().items(), key=str)) for r in result.all()), key=str
            )
    return rows


async def test_create_enrollment_stores_only_hashes(runtime: Runtime, services: Services) -> None:
    created = await create(services)
    assert created.reference_number.isdigit()
    assert len(created.reference_number) == 10
    assert created.link.url.startswith("http://certdesk.test/enroll/")
    rows = await snapshot(runtime)
    dumped = repr(rows)
    assert created.authorization_code not in dumped
    assert created.authorization_code.replace("-", "") not in dumped
    assert created.link.token not in dumped


async def test_redeem_issues_certificate_with_enrollment_subject(
    runtime: Runtime, services: Services, tmp_path: Path
) -> None:
    created = await create(services)
    _, csr = make_csr(tmp_path, key="rsa2048", subject="/CN=Mallory/O=Evil Corp")
    issued = await redeem(
        services, created, csr, code=created.authorization_code.lower().replace("-", " ")
    )
    subject = issued.certificate.subject
    assert subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Test Holder 01"
    assert [a.value for a in subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)] == [
        "Branch 01",
        "RA Shanghai",
    ]
    assert subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Acme Bank"
    assert issued.certificate.serial_number.bit_length() >= 128
    enrollment = await enrollment_view(runtime.engine, created.reference_number)
    assert enrollment.status == "issued"


async def test_redeem_twice_refuses_used_link(services: Services, tmp_path: Path) -> None:
    created = await create(services)
    _, csr = make_csr(tmp_path)
    await redeem(services, created, csr)
    with pytest.raises(LinkUsed):
        await redeem(services, created, csr)


async def test_concurrent_redemptions_yield_exactly_one_certificate(
    runtime: Runtime, services: Services, tmp_path: Path
) -> None:
    created = await create(services)
    _, csr = make_csr(tmp_path)
    results = await asyncio.gather(
        *(redeem(services, created, csr) for _ in range(20)), return_exceptions=True
    )
    issued = [r for r in results if isinstance(r, object) and hasattr(r, "certificate")]
    refused = [r for r in results if isinstance(r, LinkUsed)]
    assert len(issued) == 1, results
    assert len(refused) == 19, results
    assert await count_rows(runtime.engine, Certificate) == 1


@pytest.mark.parametrize(
    ("csr", "error"),
    [
        ("garbage", CsrMalformed),
        ("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", CsrMalformed),
    ],
)
async def test_bad_csr_changes_nothing(
    runtime: Runtime, services: Services, csr: str, error: type[Exception]
) -> None:
    created = await create(services)
    before = await snapshot(runtime)
    with pytest.raises(error):
        await redeem(services, created, csr)
    assert await snapshot(runtime) == before


async def test_weak_key_and_broken_signature_are_refused(
    runtime: Runtime, services: Services, tmp_path: Path
) -> None:
    created = await create(services)
    before = await snapshot(runtime)
    _, weak = make_csr(tmp_path, key="rsa1024")
    with pytest.raises(KeyNotAllowed, match="RSA-1024"):
        await redeem(services, created, weak)
    _, good = make_csr(tmp_path)
    csr = x509.load_pem_x509_csr(good.encode())
    der = bytearray(
        csr.public_bytes(__import__("cryptography").hazmat.primitives.serialization.Encoding.DER)
    )
    der[-5] ^= 0x01  # flip a bit inside the signature
    with pytest.raises(CsrSignatureInvalid):
        await redeem(services, created, bytes(der))
    assert await snapshot(runtime) == before


async def test_wrong_codes_lock_after_limit_then_unlock(
    runtime: Runtime, services: Services, tmp_path: Path
) -> None:
    created = await create(services)
    _, csr = make_csr(tmp_path)
    limit = services.config.max_failed_attempts
    for attempt in range(1, limit):
        with pytest.raises(WrongCredentials) as info:
            await redeem(services, created, csr, code="AAAA-BBBB-CCCC-DDDD")
        assert info.value.attempts_left == limit - attempt
    with pytest.raises(EnrollmentLocked):
        await redeem(services, created, csr, code="AAAA-BBBB-CCCC-DDDD")
    with pytest.raises(EnrollmentLocked, match="Ask RA staff"):
        await redeem(services, created, csr)
    await services.ra.unlock(created.reference_number, actor="ra-officer")
    issued = await redeem(services, created, csr)
    assert issued.serial
    sessions = session_factory(runtime.engine)
    async with sessions() as session:
        actions = [e.action for e in (await session.execute(select(AuditEvent))).scalars().all()]
    assert "enrollment.lock" in actions
    assert "enrollment.unlock" in actions


async def test_wrong_reference_number_counts_as_wrong_credentials(
    services: Services, tmp_path: Path
) -> None:
    created = await create(services)
    _, csr = make_csr(tmp_path)
    with pytest.raises(WrongCredentials):
        await services.links.redeem_enrollment_link(
            created.link.token,
            reference_number="1234567890",
            authorization_code=created.authorization_code,
            csr=csr,
        )


async def test_unknown_and_expired_links_are_refused(
    runtime: Runtime, services: Services, tmp_path: Path
) -> None:
    created = await create(services)
    _, csr = make_csr(tmp_path)
    with pytest.raises(LinkUnknown):
        await services.links.redeem_enrollment_link(
            "no-such-token",
            reference_number=created.reference_number,
            authorization_code=created.authorization_code,
            csr=csr,
        )
    sessions = session_factory(runtime.engine)
    async with sessions() as session, session.begin():
        link = (await session.execute(select(OneTimeLink))).scalars().one()
        link.expires_at = utcnow() - timedelta(seconds=1)
        session.add(link)
    with pytest.raises(LinkExpired):
        await redeem(services, created, csr)


async def test_concurrent_redemptions_of_two_links_of_one_enrollment_yield_one_certificate(
    runtime: Runtime, services: Services, tmp_path: Path
) -> None:
    """Each link is claimed by its own row; the enrollment claim makes the second refuse."""
    created = await create(services)
    second = await services.ra.new_enrollment_link(created.reference_number, actor="test")
    _, csr = make_csr(tmp_path)

    async def via(token: str) -> object:
        return await services.links.redeem_enrollment_link(
            token,
            reference_number=created.reference_number,
            authorization_code=created.authorization_code,
            csr=csr,
        )

    tokens = [created.link.token, second.token] * 5
    results = await asyncio.gather(*(via(t) for t in tokens), return_exceptions=True)
    issued = [r for r in results if hasattr(r, "certificate")]
    assert len(issued) == 1, results
    assert all(isinstance(r, LinkUsed | EnrollmentNotPending) for r in results if r not in issued)
    assert await count_rows(runtime.engine, Certificate) == 1


async def test_redeem_by_reference_for_another_protocol_audits_its_name(
    runtime: Runtime, services: Services, tmp_path: Path
) -> None:
    """What CMP reuses: unknown and wrong look alike, ``via`` lands in the audit event."""
    created = await create(services)
    _, csr = make_csr(tmp_path)
    before = await snapshot(runtime)
    with pytest.raises(CredentialsRefused) as unknown:
        await services.by_reference.redeem_by_reference(
            "12", authorization_code="X", csr=csr, via="cmp"
        )
    assert await snapshot(runtime) == before
    with pytest.raises(CredentialsRefused) as wrong:
        await services.by_reference.redeem_by_reference(
            created.reference_number, authorization_code="X", csr=csr, via="cmp"
        )
    assert unknown.value.message == wrong.value.message
    issued = await services.by_reference.redeem_by_reference(
        created.reference_number,
        authorization_code=created.authorization_code.lower().replace("-", " "),
        csr=csr,
        via="cmp",
    )
    assert issued.delivery == "csr"
    async with session_factory(runtime.engine)() as session:
        events = (
            await session.execute(
                select(AuditEvent).where(AuditEvent.action == "certificate.issue")
            )
        ).scalars()
        assert [e.detail["via"] for e in events] == ["cmp"]
    with pytest.raises(EnrollmentNotPending):
        await redeem(services, created, csr)
