"""Revocation and the CRL."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from cryptography import x509
from sqlalchemy import update
from sqlmodel import col, select

from bot.runtime import Runtime
from common.time import utcnow
from enrollment.db import session_factory
from enrollment.errors import CertificateNotActive, CertificateNotFound, RevocationReasonInvalid
from enrollment.models import AuditEvent, Certificate, RevocationList
from enrollment.services import Services
from enrollment.writer import writes_for
from tests.enrollment.conftest import Issued, enroll_and_issue


async def audit_actions(runtime: Runtime) -> list[str]:
    async with session_factory(runtime.engine)() as session:
        events = (await session.execute(select(AuditEvent))).scalars().all()
        return [e.action for e in events]


async def test_revoke_lists_serial_in_signed_crl(
    runtime: Runtime, services: Services, issued: Issued
) -> None:
    first = x509.load_der_x509_crl(await services.revocation.current_crl())
    revoked = await services.revocation.revoke(
        "serial=" + issued.serial.upper(), reason="key-compromise", actor="cli:ra"
    )
    assert revoked.status == "revoked"
    assert revoked.revocation_reason == "keyCompromise"
    assert revoked.revoked_at is not None
    crl = x509.load_der_x509_crl(await services.revocation.current_crl())
    assert crl.is_signature_valid(services.ca.certificate.public_key())
    entry = crl.get_revoked_certificate_by_serial_number(int(issued.serial, 16))
    assert entry is not None
    reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
    assert reason == x509.ReasonFlags.key_compromise
    number = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    first_number = first.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    assert number > first_number
    assert crl.next_update_utc is not None
    assert crl.next_update_utc - crl.last_update_utc == services.config.crl_validity
    assert "certificate.revoke" in await audit_actions(runtime)


async def test_revoke_refuses_twice_unknown_serial_and_bad_reason(
    services: Services, issued: Issued
) -> None:
    with pytest.raises(RevocationReasonInvalid, match="keyCompromise"):
        await services.revocation.revoke(issued.serial, reason="bored", actor="test")
    with pytest.raises(CertificateNotFound):
        await services.revocation.revoke("abcdef", reason="superseded", actor="test")
    await services.revocation.revoke(issued.serial, reason="superseded", actor="test")
    with pytest.raises(CertificateNotActive, match="already revoked"):
        await services.revocation.revoke(issued.serial, reason="superseded", actor="test")


async def test_crl_is_reused_until_refresh_then_signed_again(
    runtime: Runtime,
    services: Services,
) -> None:
    first = await services.revocation.current_crl()
    assert await services.revocation.current_crl() == first
    async with session_factory(runtime.engine)() as session, session.begin():
        for row in (await session.execute(select(RevocationList))).scalars():
            row.this_update -= services.config.crl_refresh
            session.add(row)
    fresh = x509.load_der_x509_crl(await services.revocation.current_crl())
    assert fresh.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 2


async def test_concurrent_revocations_all_reach_the_crl(services: Services, tmp_path: Path) -> None:
    certs = [await enroll_and_issue(services, tmp_path) for _ in range(3)]
    await asyncio.gather(
        *(services.revocation.revoke(c.serial, reason="superseded", actor="test") for c in certs)
    )
    crl = x509.load_der_x509_crl(await services.revocation.current_crl())
    assert {format(r.serial_number, "x") for r in crl} == {c.serial for c in certs}


async def test_racing_revocations_of_one_certificate_give_one(
    runtime: Runtime, services: Services, issued: Issued
) -> None:
    """Eight revocations of one certificate at once: one succeeds, seven hear it is revoked."""
    results = await asyncio.gather(
        *(
            services.revocation.revoke(issued.serial, reason="keyCompromise", actor=f"ra{n}")
            for n in range(8)
        ),
        return_exceptions=True,
    )
    revoked = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, CertificateNotActive)]
    assert len(revoked) == 1, results
    assert len(refused) == 7, results
    assert (await audit_actions(runtime)).count("certificate.revoke") == 1
    crl = x509.load_der_x509_crl(await services.revocation.current_crl())
    assert crl.get_revoked_certificate_by_serial_number(int(issued.serial, 16)) is not None


async def test_crl_lists_a_revocation_whose_own_crl_was_never_signed(
    runtime: Runtime, services: Services, issued: Issued
) -> None:
    """A revocation committed without its CRL (the process died, the HSM was away) is in the
    next CRL served, fresh or not."""
    await services.revocation.current_crl()  # a fresh CRL without the certificate
    async with writes_for(runtime.engine).unit() as session:
        await session.execute(
            update(Certificate)
            .where(col(Certificate.serial) == issued.serial)
            .values(status="revoked", revoked_at=utcnow(), revocation_reason="keyCompromise")
        )
    crl = x509.load_der_x509_crl(await services.revocation.current_crl())
    assert crl.get_revoked_certificate_by_serial_number(int(issued.serial, 16)) is not None
