"""RA operations: creating an enrollment (only hashes stored), its defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from pydantic import ValidationError
from sqlmodel import select

from bot.runtime import Runtime
from enrollment.db import session_factory
from enrollment.errors import EnrollmentLocked, WrongCredentials
from enrollment.models import AuditEvent, Enrollment, OneTimeLink
from enrollment.services import EnrollmentCreate, Services
from enrollment.services.creation import FieldProblem, field_problems
from tests.enrollment.conftest import create, redeem
from tests.support.pki import make_csr
from tests.support.processes import Cli
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


async def test_created_rows_read_back_through_the_orm_as_the_request_made_them(
    runtime: Runtime, services: Services
) -> None:
    """The creation unit stores plain values (sqlite3 on SQLite, Core on PostgreSQL): what the
    tables' models read back is every column the request and the defaults give."""
    request = EnrollmentCreate(
        cn="Holder Rows",
        ous=["Branch 01", "Team"],
        o="Acme",
        slack_user="U123",
        notify="slack",
        language="zh",
    )
    (created,) = await services.ra.create_enrollments([request], actor="test:rows")
    async with session_factory(runtime.engine)() as session:
        enrollment = (await session.execute(select(Enrollment))).scalars().one()
        link = (await session.execute(select(OneTimeLink))).scalars().one()
        (audit,) = (await session.execute(select(AuditEvent))).scalars().all()
    assert enrollment.id == created.enrollment_id
    assert enrollment.reference_number == created.reference_number
    assert (enrollment.subject_cn, enrollment.subject_ous, enrollment.subject_o) == (
        "Holder Rows",
        ["Branch 01", "Team"],
        "Acme",
    )
    assert (enrollment.slack_user, enrollment.email, enrollment.notify, enrollment.language) == (
        "U123",
        None,
        "slack",
        "zh",
    )
    assert (enrollment.status, enrollment.failed_attempts, enrollment.profile) == (
        "pending",
        0,
        "client",
    )
    assert (enrollment.locked_at, enrollment.issued_at, enrollment.created_by) == (
        None,
        None,
        "test:rows",
    )
    assert enrollment.created_at.tzinfo is not None
    assert enrollment.updated_at == enrollment.created_at
    assert (link.enrollment_id, link.purpose, link.owner_slack_user) == (
        enrollment.id,
        "enroll",
        "U123",
    )
    assert (link.used_at, link.failed_attempts, link.certificate_id) == (None, 0, None)
    assert link.expires_at == created.link.expires_at
    assert (audit.action, audit.target, audit.actor, audit.outcome) == (
        "enrollment.create",
        created.reference_number,
        "test:rows",
        "ok",
    )
    assert audit.detail == {"cn": "Holder Rows", "profile": "client"}


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


@pytest.mark.parametrize("email", ["ü@example.com", "holder\n@example.com", "a@bad..例子"])
def test_enrollment_create_refuses_an_address_a_certificate_cannot_carry(email: str) -> None:
    """Finding 8: refused at creation with one clear message, not a 500 at redemption."""
    with pytest.raises(ValidationError) as info:
        EnrollmentCreate(cn="Mail Holder", email=email, profile="smime")
    message = str(info.value)
    assert "Traceback" not in message
    assert ("ASCII" in message) or ("not an e-mail address" in message)


@pytest.mark.parametrize(
    "fields",
    [
        {"cn": "Holder\r\nOU=Admins"},
        {"cn": "Holder", "ous": ["Branch 01\nRA"]},
        {"cn": "Holder", "o": "Acme\x00Bank"},
        {"cn": "Holder\u2028Two"},
    ],
)
def test_enrollment_create_refuses_line_breaks_and_controls_in_the_subject(
    fields: dict[str, Any],
) -> None:
    with pytest.raises(ValidationError, match="line breaks or other control characters"):
        EnrollmentCreate(**fields)


async def test_idna_domain_becomes_a_labels_and_the_enrollment_redeems(
    runtime: Runtime, services: Services, tmp_path: Path
) -> None:
    """A U-label domain is stored as its A-label, so the certificate can carry it."""
    request = EnrollmentCreate(cn="Mail Holder", email="holder@Bücher.example", profile="smime")
    assert request.email == "holder@xn--bcher-kva.example"
    created = await services.ra.create_enrollment(request, actor="test")
    _, csr = make_csr(tmp_path)
    issued = await redeem(services, created, csr)
    san = issued.certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert san.value.get_values_for_type(x509.RFC822Name) == ["holder@xn--bcher-kva.example"]


def test_ra_issue_refuses_non_ascii_email_with_one_clear_line(cli: Cli) -> None:
    """Finding 8 through the CLI: `ra issue --profile smime --email ü@example.com`."""
    result = cli(
        "ra", "issue", "--cn", "Mail Holder", "--profile", "smime", "--email", "ü@example.com"
    )
    assert result.returncode == 1
    assert "ASCII" in result.stderr
    assert "Traceback" not in result.stderr
    crlf = cli("ra", "issue", "--cn", "Holder\r\nOU=Admins")
    assert crlf.returncode == 1
    assert "line breaks" in crlf.stderr
    assert "Traceback" not in crlf.stderr
    idna = cli(
        "ra", "issue", "--cn", "Mail Holder", "--profile", "smime", "--email", "a@bü.example"
    )
    assert idna.returncode == 0, idna.stderr


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"cn": ""}, [FieldProblem("cn", "must not be empty")]),
        ({"cn": "   "}, [FieldProblem("cn", "must not be blank")]),
        ({"cn": "x" * 65}, [FieldProblem("cn", "must have at most 64 characters")]),
        ({"cn": "X", "ous": ["a"] * 9}, [FieldProblem("ous", "must have at most 8 values")]),
        ({"cn": "X", "email": "bad"}, [FieldProblem("email", "'bad' is not an e-mail address")]),
        (
            {"cn": "X", "profile": "smime"},
            [FieldProblem("", "profile 'smime' needs an e-mail address")],
        ),
    ],
)
def test_field_problems_say_what_is_wrong_in_words_for_ra_staff(
    fields: dict[str, Any], expected: list[FieldProblem]
) -> None:
    with pytest.raises(ValidationError) as info:
        EnrollmentCreate(**fields)
    problems = field_problems(info.value)
    assert problems == expected
    assert all("Value error" not in str(p) and "String should" not in str(p) for p in problems)
