"""Redemption by reference number, the path EST and CMP share."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import select

from bot.runtime import Runtime
from enrollment.db import session_factory
from enrollment.errors import CredentialsRefused, EnrollmentNotPending
from enrollment.models import AuditEvent
from enrollment.services import Services
from tests.enrollment.conftest import create, redeem
from tests.support.pki import make_csr
from tests.support.store import snapshot


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
