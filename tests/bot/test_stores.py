"""The bot's tables and the read-only enrollment queries, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import update
from sqlmodel import col

from bot.escalation import Escalations
from bot.runtime import Runtime
from common.time import utcnow
from enrollment.db import session_factory
from enrollment.models import Enrollment
from enrollment.queries import EnrollmentQueries
from enrollment.services import EnrollmentCreate
from tests.support.pki import make_csr


async def test_escalations_one_open_per_user(runtime: Runtime) -> None:
    escalations = Escalations(engine=runtime.engine)
    first = await escalations.start(
        user_id="U2", user_channel="D2", ra_channel="CRA", question="help", lang="en"
    )
    assert first is not None
    assert (
        await escalations.start(
            user_id="U2", user_channel="D2", ra_channel="CRA", question="again", lang="en"
        )
        is None
    )
    other = await escalations.start(
        user_id="U3", user_channel="D3", ra_channel="CRA", question="hi", lang="zh"
    )
    assert other is not None


async def test_escalations_thread_lookup_and_single_resolution(runtime: Runtime) -> None:
    escalations = Escalations(engine=runtime.engine)
    started = await escalations.start(
        user_id="U2", user_channel="D2", ra_channel="CRA", question="help", lang="en"
    )
    assert started is not None
    await escalations.attach_thread(started.id, thread_ts="1700000000.000100")
    found = await escalations.by_thread(ra_channel="CRA", thread_ts="1700000000.000100")
    assert found is not None
    assert found.user_id == "U2"
    assert [e.id for e in await escalations.open_escalations()] == [started.id]
    resolved = await escalations.resolve(started.id, by="U1")
    assert resolved is not None
    assert resolved.resolved_by == "U1"
    assert not resolved.is_open
    assert await escalations.resolve(started.id, by="U9") is None
    assert await escalations.open_for_user("U2") is None
    again = await escalations.start(
        user_id="U2", user_channel="D2", ra_channel="CRA", question="more", lang="en"
    )
    assert again is not None


async def test_escalations_abandon_frees_the_user(runtime: Runtime) -> None:
    escalations = Escalations(engine=runtime.engine)
    started = await escalations.start(
        user_id="U2", user_channel="D2", ra_channel="CRA", question="help", lang="en"
    )
    assert started is not None
    await escalations.abandon(started.id)
    assert await escalations.open_for_user("U2") is None


async def test_queries_follow_enrollments_and_certificates(
    runtime: Runtime, tmp_path: Path
) -> None:
    services = runtime.services
    queries = EnrollmentQueries(engine=runtime.engine)
    issued = await services.ra.create_enrollment(
        EnrollmentCreate(cn="Holder A", ous=["Branch 7"], o="Acme Bank", slack_user="U2"),
        actor="test",
    )
    pending = await services.ra.create_enrollment(
        EnrollmentCreate(cn="Holder B", slack_user="U2"), actor="test"
    )
    locked = await services.ra.create_enrollment(
        EnrollmentCreate(cn="Holder C", slack_user="U3"), actor="test"
    )
    _, csr = make_csr(tmp_path)
    certificate = await services.links.redeem_enrollment_link(
        issued.link.token,
        reference_number=issued.reference_number,
        authorization_code=issued.authorization_code,
        csr=csr,
    )
    async with session_factory(runtime.engine)() as session, session.begin():
        await session.execute(
            update(Enrollment)
            .where(col(Enrollment.reference_number) == locked.reference_number)
            .values(locked_at=utcnow(), failed_attempts=5)
        )

    mine = await queries.enrollments_of("U2")
    assert {e.reference_number for e in mine} == {
        issued.reference_number,
        pending.reference_number,
    }
    assert [e.reference_number for e in await queries.pending_enrollments_of("U2")] == [
        pending.reference_number
    ]
    certificates = await queries.certificates_of("U2")
    assert [c.serial for c in certificates] == [certificate.serial]
    assert certificates[0].ous == ("Branch 7",)
    assert await queries.certificates_of("U3") == []
    assert (await queries.certificate(certificate.serial.upper())) == certificates[0]
    assert (await queries.certificate("00:" + certificate.serial)) == certificates[0]
    assert await queries.certificate("ffff") is None

    by_reference = await queries.enrollment(pending.reference_number)
    assert by_reference is not None
    assert by_reference.cn == "Holder B"
    assert await queries.enrollment("not a number") is None
    assert [e.reference_number for e in await queries.pending_enrollments()] == [
        pending.reference_number
    ]
    assert [e.reference_number for e in await queries.locked_enrollments()] == [
        locked.reference_number
    ]

    stats = await queries.stats()
    assert (stats.enrollments_pending, stats.enrollments_locked, stats.enrollments_issued) == (
        1,
        1,
        1,
    )
    assert stats.certificates_active == 1
    assert stats.certificates_expiring == 0
    later = await queries.stats(now=certificate.not_after - timedelta(days=10))
    assert later.certificates_expiring == 1
