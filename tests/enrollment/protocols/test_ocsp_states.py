"""The responder's read connection on a real database (SQLite and PostgreSQL): each read sees
what was committed before it began, by any connection, and a lost connection is replaced."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from bot.runtime import Runtime
from common.time import utcnow
from enrollment.protocols.ocsp.states import StoreStates
from tests.enrollment.conftest import enroll_and_issue


async def test_store_states_see_a_revocation_committed_on_another_connection(
    runtime: Runtime, tmp_path: Path
) -> None:
    """The held connection is outside any transaction: no snapshot outlives a read."""
    services = runtime.services
    good = (await enroll_and_issue(services, tmp_path)).serial
    other = (await enroll_and_issue(services, tmp_path)).serial
    states = StoreStates(runtime.engine)
    try:
        first = await states.serial_states([good, other, "7e57"])
        assert first[good].issued
        assert first[good].revoked is None
        assert first[other].issued
        assert first[other].revoked is None
        assert not first["7e57"].issued  # never issued here: unknown

        before = utcnow().replace(microsecond=0)
        await services.revocation.revoke(good, reason="keyCompromise", actor="t")
        after = await states.serial_states([good, other])
        revoked = after[good].revoked
        assert revoked is not None
        assert revoked.reason == "keyCompromise"
        assert revoked.revoked_at.tzinfo is not None
        assert revoked.revoked_at >= before
        assert after[other].revoked is None
    finally:
        await states.close()


@pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
async def test_store_states_replace_a_connection_the_server_closed(
    runtime: Runtime, tmp_path: Path
) -> None:
    """PostgreSQL ends every session (a restart, a failover): the next read still answers."""
    serial = (await enroll_and_issue(runtime.services, tmp_path)).serial
    states = StoreStates(runtime.engine)
    try:
        assert (await states.serial_states([serial]))[serial].issued
        async with runtime.engine.connect() as connection:
            ended = await connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
            assert any(row[0] for row in ended)
        assert (await states.serial_states([serial]))[serial].issued
    finally:
        await states.close()
