"""RA operations: creating an enrollment (only hashes stored), its defaults."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import select

from bot.runtime import Runtime
from enrollment.db import session_factory
from enrollment.errors import EnrollmentLocked, WrongCredentials
from enrollment.models import AuditEvent
from enrollment.services import EnrollmentCreate, Services
from tests.enrollment.conftest import create, redeem
from tests.support.pki import make_csr
from tests.support.store import snapshot


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


def test_enrollment_create_default_profile_has_no_server_keygen() -> None:
    assert EnrollmentCreate(cn="x").profile == "client"


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
