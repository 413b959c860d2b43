"""Reading the store in tests: through the bot's read path (:class:`EnrollmentQueries`), or the
stored row where a test checks what no view shows (delivery, key type, salts, supersession)."""

from __future__ import annotations

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import SQLModel, col, select

from enrollment import codes
from enrollment.db import session_factory
from enrollment.models import Certificate, Enrollment
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
