"""The responder's read connection on a real database (SQLite and PostgreSQL): each read sees
what was committed before it began, by any connection, and a lost connection is replaced."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from bot.runtime import Runtime
from common.time import utcnow
from enrollment.models import Certificate
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


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def test_store_states_wait_off_the_loop_while_sqlite_is_locked(tmp_path: Path) -> None:
    """SQLite without WAL (a rollback journal) and another process holding its exclusive lock
    to revoke: the read on the loop does not wait for the lock (the loop runs on), the read
    through the pool does, and the answer is what was committed, never what was before."""
    path = tmp_path / "journal.db"
    engine = create_async_engine(f"sqlite+aiosqlite:///{path}")
    async with engine.begin() as connection:
        await connection.run_sync(Certificate.__table__.create)  # type: ignore[attr-defined]
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute(
        "INSERT INTO certificate (serial, subject, issuer, not_before, not_after,"
        " fingerprint_sha256, pem, key_type, profile, delivery, status, created_at, subject_cn,"
        " subject_ous) VALUES ('7e57', 'CN=Holder', 'CN=CA', '2026-01-01 00:00:00',"
        " '2027-01-01 00:00:00', 'f', '', 'ec-p256', 'client', 'csr', 'active',"
        " '2026-01-01 00:00:00', 'Holder', '[]')"
    )
    states = StoreStates(engine)
    try:
        assert (await states.serial_states(["7e57"]))["7e57"].revoked is None
        blocker.execute("BEGIN EXCLUSIVE")
        blocker.execute(
            "UPDATE certificate SET status = 'revoked', revoked_at = ?,"
            " revocation_reason = 'keyCompromise' WHERE serial = '7e57'",
            ("2026-12-01 09:30:00.000000",),
        )
        read = asyncio.create_task(states.serial_states(["7e57"]))
        await settle()  # the loop runs on while the read waits for the lock
        assert not read.done()
        blocker.execute("COMMIT")
        revoked = (await read)["7e57"].revoked
        assert revoked is not None
        assert revoked.revoked_at == datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
        assert revoked.reason == "keyCompromise"
    finally:
        blocker.close()
        await states.close()
        await engine.dispose()
