"""Fixtures of the enrollment tests: enrollments and issued certificates in a real store."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select

from bot.app import RUNTIME
from bot.runtime import Runtime
from common.time import utcnow
from enrollment.db import session_factory
from enrollment.models import OneTimeLink
from enrollment.services import EnrollmentCreate, Services
from enrollment.services.ra import NewEnrollment
from enrollment.services.results import IssuedCertificate
from tests.support.pki import make_csr

HOLDER = EnrollmentCreate(
    cn="Test Holder 01",
    ous=["Branch 01", "RA Shanghai"],
    o="Acme Bank",
    slack_user="U0HOLDER",
    email="holder@example.com",
)


@dataclass(frozen=True)
class Issued:
    created: NewEnrollment
    issued: IssuedCertificate
    key_path: Path

    @property
    def serial(self) -> str:
        return self.issued.serial


async def enroll_and_issue(
    services: Services,
    directory: Path,
    *,
    request: EnrollmentCreate = HOLDER,
    delivery: str = "browser",
) -> Issued:
    created = await services.ra.create_enrollment(request, actor="test")
    key_path, csr = make_csr(directory)
    issued = await services.links.redeem_enrollment_link(
        created.link.token,
        reference_number=created.reference_number,
        authorization_code=created.authorization_code,
        csr=csr,
        delivery=delivery,
    )
    return Issued(created=created, issued=issued, key_path=key_path)


@pytest.fixture
async def issued(services: Services, tmp_path: Path) -> Issued:
    """An active certificate of U0HOLDER, delivered to the browser."""
    return await enroll_and_issue(services, tmp_path)


def app_runtime(client: TestClient[Any, Any]) -> Runtime:
    """The runtime inside the in-process application of the ``client`` fixture."""
    return client.app[RUNTIME]


async def expire_links(engine: AsyncEngine) -> None:
    async with session_factory(engine)() as session, session.begin():
        for link in (await session.execute(select(OneTimeLink))).scalars():
            link.expires_at = utcnow() - timedelta(seconds=1)
            session.add(link)


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
