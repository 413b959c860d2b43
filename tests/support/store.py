"""Reading the store in tests: through the bot's read path (:class:`EnrollmentQueries`), or the
stored row where a test checks what no view shows (delivery, key type, salts, supersession)."""

from __future__ import annotations

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import SQLModel, col, select

from bot.runtime import Runtime
from enrollment import codes
from enrollment.db import session_factory
from enrollment.models import AuditEvent, Certificate, Enrollment, OneTimeLink
from enrollment.queries import CertificateView, EnrollmentQueries, EnrollmentView


async def certificate_view(engine: AsyncEngine, serial: str) -> CertificateView:
    found = await EnrollmentQueries(engine=engine).certificate(serial)
    assert found is not None, f"no certificate {serial}"
    return found


async def enrollment_view(engine: AsyncEngine, reference: str) -> EnrollmentView:
    found = await EnrollmentQueries(engine=engine).enrollment(reference)
    assert found is not None, f"no enrollment {reference}"
    return found


async def certificate_row(engine: AsyncEngine, serial: str) -> Certificate:
    async with session_factory(engine)() as session:
        statement = select(Certificate).where(col(Certificate.serial) == serial)
        return (await session.execute(statement)).scalars().one()


async def enrollment_row(engine: AsyncEngine, reference: str) -> Enrollment:
    normalized = codes.normalize_reference(reference)
    async with session_factory(engine)() as session:
        statement = select(Enrollment).where(col(Enrollment.reference_number) == normalized)
        return (await session.execute(statement)).scalars().one()


async def count_rows(engine: AsyncEngine, model: type[SQLModel]) -> int:
    async with session_factory(engine)() as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


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
