"""The enrollment service on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID
from sqlmodel import select

from common.time import utcnow
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
from enrollment.service import EnrollmentCreate, EnrollmentService, NewEnrollment
from tests.support.pki import make_csr

REQUEST = EnrollmentCreate(cn="Test Holder 01", ous=["Branch 01", "RA Shanghai"], o="Acme Bank")


async def create(service: EnrollmentService) -> NewEnrollment:
    return await service.create_enrollment(REQUEST, actor="test")


async def redeem(
    service: EnrollmentService, created: NewEnrollment, csr: str, code: str | None = None
):
    return await service.redeem_enrollment_link(
        created.link.token,
        reference_number=created.reference_number,
        authorization_code=code or created.authorization_code,
        csr=csr,
    )


async def snapshot(service: EnrollmentService) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table, to prove that a refused request changed nothing."""
    sessions = session_factory(service._engine)
    rows: dict[str, list[tuple[object, ...]]] = {}
    async with sessions() as session:
        for model in (Enrollment, Certificate, OneTimeLink, AuditEvent):
            result = (await session.execute(select(model))).scalars()
            rows[model.__name__] = sorted(
                (tuple(sorted(r.model_dump().items(), key=str)) for r in result.all()), key=str
            )
    return rows


async def test_create_enrollment_stores_only_hashes(service: EnrollmentService) -> None:
    created = await create(service)
    assert created.reference_number.isdigit()
    assert len(created.reference_number) == 10
    assert created.link.url.startswith("http://certdesk.test/enroll/")
    rows = await snapshot(service)
    dumped = repr(rows)
    assert created.authorization_code not in dumped
    assert created.authorization_code.replace("-", "") not in dumped
    assert created.link.token not in dumped


async def test_redeem_issues_certificate_with_enrollment_subject(
    service: EnrollmentService, tmp_path: Path
) -> None:
    created = await create(service)
    _, csr = make_csr(tmp_path, key="rsa2048", subject="/CN=Mallory/O=Evil Corp")
    issued = await redeem(
        service, created, csr, code=created.authorization_code.lower().replace("-", " ")
    )
    subject = issued.certificate.subject
    assert subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Test Holder 01"
    assert [a.value for a in subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)] == [
        "Branch 01",
        "RA Shanghai",
    ]
    assert subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Acme Bank"
    assert issued.certificate.serial_number.bit_length() >= 128
    enrollment = await service.get_enrollment(created.reference_number)
    assert enrollment.status == "issued"


async def test_redeem_twice_refuses_used_link(service: EnrollmentService, tmp_path: Path) -> None:
    created = await create(service)
    _, csr = make_csr(tmp_path)
    await redeem(service, created, csr)
    with pytest.raises(LinkUsed):
        await redeem(service, created, csr)


async def test_concurrent_redemptions_yield_exactly_one_certificate(
    service: EnrollmentService, tmp_path: Path
) -> None:
    created = await create(service)
    _, csr = make_csr(tmp_path)
    results = await asyncio.gather(
        *(redeem(service, created, csr) for _ in range(20)), return_exceptions=True
    )
    issued = [r for r in results if isinstance(r, object) and hasattr(r, "certificate")]
    refused = [r for r in results if isinstance(r, LinkUsed)]
    assert len(issued) == 1, results
    assert len(refused) == 19, results
    assert await service.count(Certificate) == 1


@pytest.mark.parametrize(
    ("csr", "error"),
    [
        ("garbage", CsrMalformed),
        ("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", CsrMalformed),
    ],
)
async def test_bad_csr_changes_nothing(
    service: EnrollmentService, csr: str, error: type[Exception]
) -> None:
    created = await create(service)
    before = await snapshot(service)
    with pytest.raises(error):
        await redeem(service, created, csr)
    assert await snapshot(service) == before


async def test_weak_key_and_broken_signature_are_refused(
    service: EnrollmentService, tmp_path: Path
) -> None:
    created = await create(service)
    before = await snapshot(service)
    _, weak = make_csr(tmp_path, key="rsa1024")
    with pytest.raises(KeyNotAllowed, match="RSA-1024"):
        await redeem(service, created, weak)
    _, good = make_csr(tmp_path)
    csr = x509.load_pem_x509_csr(good.encode())
    der = bytearray(
        csr.public_bytes(__import__("cryptography").hazmat.primitives.serialization.Encoding.DER)
    )
    der[-5] ^= 0x01  # flip a bit inside the signature
    with pytest.raises(CsrSignatureInvalid):
        await redeem(service, created, bytes(der))
    assert await snapshot(service) == before


async def test_wrong_codes_lock_after_limit_then_unlock(
    service: EnrollmentService, tmp_path: Path
) -> None:
    created = await create(service)
    _, csr = make_csr(tmp_path)
    limit = service.config.max_failed_attempts
    for attempt in range(1, limit):
        with pytest.raises(WrongCredentials) as info:
            await redeem(service, created, csr, code="AAAA-BBBB-CCCC-DDDD")
        assert info.value.attempts_left == limit - attempt
    with pytest.raises(EnrollmentLocked):
        await redeem(service, created, csr, code="AAAA-BBBB-CCCC-DDDD")
    with pytest.raises(EnrollmentLocked, match="Ask RA staff"):
        await redeem(service, created, csr)
    await service.unlock(created.reference_number, actor="ra-officer")
    issued = await redeem(service, created, csr)
    assert issued.serial
    sessions = session_factory(service._engine)
    async with sessions() as session:
        actions = [e.action for e in (await session.execute(select(AuditEvent))).scalars().all()]
    assert "enrollment.lock" in actions
    assert "enrollment.unlock" in actions


async def test_wrong_reference_number_counts_as_wrong_credentials(
    service: EnrollmentService, tmp_path: Path
) -> None:
    created = await create(service)
    _, csr = make_csr(tmp_path)
    with pytest.raises(WrongCredentials):
        await service.redeem_enrollment_link(
            created.link.token,
            reference_number="1234567890",
            authorization_code=created.authorization_code,
            csr=csr,
        )


async def test_unknown_and_expired_links_are_refused(
    service: EnrollmentService, tmp_path: Path
) -> None:
    created = await create(service)
    _, csr = make_csr(tmp_path)
    with pytest.raises(LinkUnknown):
        await service.redeem_enrollment_link(
            "no-such-token",
            reference_number=created.reference_number,
            authorization_code=created.authorization_code,
            csr=csr,
        )
    sessions = session_factory(service._engine)
    async with sessions() as session, session.begin():
        link = (await session.execute(select(OneTimeLink))).scalars().one()
        link.expires_at = utcnow() - timedelta(seconds=1)
        session.add(link)
    with pytest.raises(LinkExpired):
        await redeem(service, created, csr)


async def test_concurrent_redemptions_of_two_links_of_one_enrollment_yield_one_certificate(
    service: EnrollmentService, tmp_path: Path
) -> None:
    """Each link is claimed by its own row; the enrollment claim makes the second refuse."""
    created = await create(service)
    second = await service.new_enrollment_link(created.reference_number, actor="test")
    _, csr = make_csr(tmp_path)

    async def via(token: str) -> object:
        return await service.redeem_enrollment_link(
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
    assert await service.count(Certificate) == 1


async def test_redeem_by_reference_for_another_protocol_audits_its_name(
    service: EnrollmentService, tmp_path: Path
) -> None:
    """What CMP reuses: unknown and wrong look alike, ``via`` lands in the audit event."""
    created = await create(service)
    _, csr = make_csr(tmp_path)
    before = await snapshot(service)
    with pytest.raises(CredentialsRefused) as unknown:
        await service.redeem_by_reference("12", authorization_code="X", csr=csr, via="cmp")
    assert await snapshot(service) == before
    with pytest.raises(CredentialsRefused) as wrong:
        await service.redeem_by_reference(
            created.reference_number, authorization_code="X", csr=csr, via="cmp"
        )
    assert unknown.value.message == wrong.value.message
    issued = await service.redeem_by_reference(
        created.reference_number,
        authorization_code=created.authorization_code.lower().replace("-", " "),
        csr=csr,
        via="cmp",
    )
    assert issued.delivery == "csr"
    async with session_factory(service._engine)() as session:
        events = (
            await session.execute(
                select(AuditEvent).where(AuditEvent.action == "certificate.issue")
            )
        ).scalars()
        assert [e.detail["via"] for e in events] == ["cmp"]
    with pytest.raises(EnrollmentNotPending):
        await redeem(service, created, csr)
