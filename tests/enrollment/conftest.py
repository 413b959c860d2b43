"""Fixtures of the enrollment tests: enrollments and issued certificates in a real store."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from enrollment.service import EnrollmentCreate, EnrollmentService, IssuedCertificate, NewEnrollment
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
    service: EnrollmentService,
    directory: Path,
    *,
    request: EnrollmentCreate = HOLDER,
    delivery: str = "browser",
) -> Issued:
    created = await service.create_enrollment(request, actor="test")
    key_path, csr = make_csr(directory)
    issued = await service.redeem_enrollment_link(
        created.link.token,
        reference_number=created.reference_number,
        authorization_code=created.authorization_code,
        csr=csr,
        delivery=delivery,
    )
    return Issued(created=created, issued=issued, key_path=key_path)


@pytest.fixture
async def issued(service: EnrollmentService, tmp_path: Path) -> Issued:
    """An active certificate of U0HOLDER, delivered to the browser."""
    return await enroll_and_issue(service, tmp_path)
