"""The issuance's read and unit on PostgreSQL as one statement each (services/_lean_pg.py), on
the real PostgreSQL the suite starts: a lost claim writes nothing, the unit run twice (a retry
after its reply was lost) records once, and its insert names the columns Store.sign fills."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import col, select

from bot.runtime import Runtime
from enrollment.db import session_factory
from enrollment.models import AuditEvent, Certificate, Delivery, LinkPurpose, OneTimeLink
from enrollment.services import Services, _lean_pg
from enrollment.services._lean import CERTIFICATE_COLUMNS, ClaimLost, FirstIssue
from enrollment.services._store import Store
from tests.enrollment.conftest import create
from tests.support.pki import make_csr
from tests.support.postgres import PostgresServer
from tests.support.store import count_rows, snapshot

pytestmark = pytest.mark.postgres


@pytest.fixture
def database_url(postgres_server: PostgresServer) -> Iterator[str]:
    """These tests run on PostgreSQL only (the lean pool exists only there)."""
    url = postgres_server.create_database()
    yield url
    postgres_server.drop_database(url)


def _store(services: Services) -> Store:
    store: Store = services.links._store
    assert store.lean_pg is not None  # the lean path, not the Core one
    return store


async def _facts(store: Store, token: str, tmp_path: Path) -> FirstIssue:
    """The unit's values for ``token``'s link, signed as a redemption signs them."""
    _, csr = make_csr(tmp_path)
    signed = await store.signed_for_link(
        token, LinkPurpose.ENROLL, matches=lambda _: True, key=csr, delivery=Delivery.CSR
    )
    assert signed.issue is not None
    return signed.issue.facts


def test_the_insert_names_the_certificate_columns_in_order() -> None:
    listed = re.search(r"INSERT INTO certificate \(([^)]*)\)", _lean_pg._FIRST_ISSUE)
    assert listed is not None
    assert tuple(name.strip() for name in listed.group(1).split(",")) == CERTIFICATE_COLUMNS


async def test_unit_run_twice_records_one_certificate(
    runtime: Runtime, services: Services, tmp_path: Path
) -> None:
    """As when the connection dies after the commit and the pool runs it again: the second
    run finds its certificate by serial and reports it recorded; nothing is doubled."""
    store = _store(services)
    created = await create(services)
    facts = await _facts(store, created.link.token, tmp_path)
    assert store.lean_pg is not None
    await _lean_pg.first_issue(store.lean_pg, facts)
    await _lean_pg.first_issue(store.lean_pg, facts)
    assert await count_rows(runtime.engine, Certificate) == 1
    async with session_factory(runtime.engine)() as session:
        issued = (
            await session.execute(
                select(AuditEvent).where(col(AuditEvent.action) == "certificate.issue")
            )
        ).scalars()
        assert [event.target for event in issued] == [facts.certificate["serial"]]


async def test_lost_enrollment_claim_leaves_its_link_unused(
    runtime: Runtime, services: Services, tmp_path: Path
) -> None:
    """Two links of one enrollment, both read as usable: the second unit loses the
    enrollment's claim and writes nothing, its own link included."""
    store = _store(services)
    created = await create(services)
    second = await services.ra.new_enrollment_link(created.reference_number, actor="test")
    first_facts = await _facts(store, created.link.token, tmp_path)
    second_facts = await _facts(store, second.token, tmp_path)
    assert store.lean_pg is not None
    await _lean_pg.first_issue(store.lean_pg, first_facts)
    with pytest.raises(ClaimLost) as lost:
        await _lean_pg.first_issue(store.lean_pg, second_facts)
    assert lost.value.claimed_link is False
    assert await count_rows(runtime.engine, Certificate) == 1
    async with session_factory(runtime.engine)() as session:
        used = {
            link.id: link.used_at is not None
            for link in (await session.execute(select(OneTimeLink))).scalars()
        }
    assert used == {first_facts.link_id: True, second_facts.link_id: False}


async def test_warming_new_connections_changes_nothing(
    runtime: Runtime, services: Services
) -> None:
    """Each new pooled connection runs the hot statements once with every parameter NULL:
    they match no row, so opening the pool writes nothing."""
    store = _store(services)
    await create(services)
    before = await snapshot(runtime)
    assert store.lean_pg is not None
    assert await store.lean_pg.fetchrow("SELECT 1 AS one") is not None  # opens and warms
    assert await snapshot(runtime) == before
