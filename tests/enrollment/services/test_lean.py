"""The issuance hot path as plain statements (enrollment/services/_lean.py): it stores what the
ORM would, and the server-made PKCS#12 is built before its unit."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from sqlalchemy import JSON
from sqlalchemy.dialects import sqlite
from sqlmodel import col, select

import enrollment.services._signing as signing_module
from bot.runtime import Runtime
from enrollment.ca.pkcs12 import generate_server_key
from enrollment.db import session_factory, sqlite_value
from enrollment.models import AuditEvent, Enrollment
from enrollment.services import Services
from enrollment.services.results import ServerKey
from enrollment.types import UTCDateTime
from tests.enrollment.conftest import HOLDER, REQUEST, create, redeem
from tests.support.pki import make_csr
from tests.support.store import certificate_row, enrollment_view


def test_sqlite_values_are_what_sqlalchemy_stores() -> None:
    """Aware datetimes, lists and dicts bound exactly as SQLAlchemy binds them on SQLite, so a
    row written by the plain path reads back through the ORM like any other."""
    dialect = sqlite.dialect()
    moment = datetime(2026, 12, 2, 6, 30, 5, 123456, tzinfo=UTC)
    bind_time = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
    bind_json = JSON().dialect_impl(dialect).bind_processor(dialect)
    assert bind_time is not None
    assert bind_json is not None
    assert sqlite_value(moment) == bind_time(moment)
    assert sqlite_value(moment.replace(microsecond=0)) == bind_time(moment.replace(microsecond=0))
    assert sqlite_value(["Branch 01", "上海"]) == bind_json(["Branch 01", "上海"])
    assert sqlite_value({"via": "browser", "n": 1}) == bind_json({"via": "browser", "n": 1})
    with pytest.raises(ValueError, match="naive"):
        sqlite_value(datetime(2026, 12, 2))


async def test_issued_rows_read_back_through_the_orm(
    runtime: Runtime, services: Services, tmp_path: Path
) -> None:
    """A certificate issued by link (plain unit on SQLite, Core on PostgreSQL): the
    certificate, the enrollment's claim and the audit row, as the ORM reads them."""
    created = await create(services)
    _, csr = make_csr(tmp_path)
    issued = await redeem(services, created, csr)
    row = await certificate_row(runtime.engine, issued.serial)
    assert row.not_after == issued.certificate.not_valid_after_utc
    assert row.not_before == issued.certificate.not_valid_before_utc
    assert row.not_after.tzinfo is not None
    assert row.subject_ous == REQUEST.ous
    assert row.status == "active"
    assert row.pem.startswith("-----BEGIN CERTIFICATE-----")
    view = await enrollment_view(runtime.engine, created.reference_number)
    assert view.status == "issued"
    async with session_factory(runtime.engine)() as session:
        enrollment = (
            await session.execute(
                select(Enrollment).where(
                    col(Enrollment.reference_number) == created.reference_number
                )
            )
        ).scalar_one()
        audit = (
            await session.execute(
                select(AuditEvent).where(col(AuditEvent.action) == "certificate.issue")
            )
        ).scalar_one()
    assert enrollment.issued_at is not None
    assert enrollment.issued_at.tzinfo is not None
    assert audit.target == issued.serial
    assert audit.detail == {"reference_number": created.reference_number, "via": "csr"}
    assert audit.at.tzinfo is not None


async def test_texts_made_with_the_signature_are_the_certificates(
    runtime: Runtime, services: Services, tmp_path: Path
) -> None:
    """The row's names and PEM and the response's PEM texts, made in the signing hop from what
    was built (not parsed back), are exactly what the issued certificate and the CA hold."""
    created = await create(services)
    _, csr = make_csr(tmp_path)
    issued = await redeem(services, created, csr)
    certificate = issued.certificate
    row = await certificate_row(runtime.engine, issued.serial)
    assert row.subject == certificate.subject.rfc4514_string()
    assert row.issuer == certificate.issuer.rfc4514_string()
    pem = certificate.public_bytes(serialization.Encoding.PEM).decode()
    assert row.pem == issued.certificate_pem() == pem
    chain = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in runtime.ca.chain)
    assert issued.chain_pem() == chain.decode()
    assert runtime.ca.chain_pem() == chain


async def test_server_made_pkcs12_is_built_before_its_unit(
    runtime: Runtime, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While a server-made RSA-2048 key and its PKCS#12 are being made, another write commits:
    the unit does not span the key generation (it would wait for it, and time out here)."""
    building = threading.Event()
    release = threading.Event()

    def held(key_type: Any) -> Any:
        building.set()
        if not release.wait(60):
            raise TimeoutError("the test never released the key generation")
        return generate_server_key(key_type)

    monkeypatch.setattr(signing_module, "generate_server_key", held)
    created = await services.ra.create_enrollment(
        HOLDER.model_copy(update={"profile": "client-keygen"}), actor="test"
    )
    package = asyncio.create_task(
        services.links.redeem_enrollment_link_pkcs12(
            created.link.token,
            reference_number=created.reference_number,
            authorization_code=created.authorization_code,
            server_key=ServerKey(password="correct horse", key_type="rsa-2048"),
        )
    )
    try:
        await asyncio.to_thread(building.wait, 60)
        async with asyncio.timeout(30):  # a guard against a hang, not a timing assertion
            other = await services.ra.create_enrollment(REQUEST, actor="test")
        assert not package.done()
    finally:
        release.set()
    made = await package
    assert made.data
    assert (await enrollment_view(runtime.engine, other.reference_number)).status == "pending"
