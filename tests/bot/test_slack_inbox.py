"""The durable Slack inbox on SQLite and PostgreSQL: unique deliveries, claims, leases."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select, update

from bot.runtime import Runtime
from bot.slack.inbox import EVENT, INBOX, MAX_ATTEMPTS, Inbox, backoff
from common.time import utcnow

LEASE = timedelta(seconds=30)


def inbox(runtime: Runtime, owner: str) -> Inbox:
    return Inbox(engine=runtime.engine, owner=owner, lease=LEASE)


async def expire_leases(runtime: Runtime) -> None:
    async with runtime.engine.begin() as connection:
        await connection.execute(update(INBOX).values(lease_until=utcnow() - timedelta(seconds=1)))


async def test_inbox_stores_each_delivery_id_once(runtime: Runtime) -> None:
    """Ten concurrent deliveries of one event through two processes: one row, one owner."""
    processes = [inbox(runtime, "p1"), inbox(runtime, "p2")]
    results = await asyncio.gather(
        *(processes[i % 2].store("EvSame", EVENT, {"n": i}) for i in range(10)),
        processes[0].store("EvOther", EVENT, {}),
    )
    assert len([r for r in results[:10] if r is not None]) == 1
    assert results[10] is not None
    async with runtime.engine.connect() as connection:
        rows = (await connection.execute(select(INBOX.c.delivery_id, INBOX.c.claimed_by))).all()
    assert sorted(row.delivery_id for row in rows) == ["EvOther", "EvSame"]


async def test_inbox_claim_takes_nothing_held_under_a_live_lease(runtime: Runtime) -> None:
    first = inbox(runtime, "p1")
    await first.store("Ev1", EVENT, {"text": "hi"})
    assert await inbox(runtime, "p2").claim(10) == []


async def test_inbox_lease_expired_is_taken_over_once(runtime: Runtime) -> None:
    """A process that died leaves its row claimed; after the lease, exactly one of two live
    processes takes it, with the replies posted so far."""
    dead = inbox(runtime, "dead")
    row_id = await dead.store("Ev1", EVENT, {"text": "hi"})
    assert row_id is not None
    await dead.record_replies(row_id, ["1.0001"])
    await expire_leases(runtime)
    claims = await asyncio.gather(inbox(runtime, "p1").claim(10), inbox(runtime, "p2").claim(10))
    taken = [item for claim in claims for item in claim]
    assert [(item.id, item.body, item.attempts, item.replies) for item in taken] == [
        (row_id, {"text": "hi"}, 2, ("1.0001",))
    ]


async def test_inbox_finished_rows_are_not_claimed(runtime: Runtime) -> None:
    store = inbox(runtime, "p1")
    row_id = await store.store("Ev1", EVENT, {})
    assert row_id is not None
    await store.finish(row_id)
    await expire_leases(runtime)
    assert await inbox(runtime, "p2").claim(10) == []
    assert await store.unfinished() == 0


async def test_inbox_release_backs_off_then_gives_up(runtime: Runtime) -> None:
    store = inbox(runtime, "p1")
    row_id = await store.store("Ev1", EVENT, {})
    assert row_id is not None
    await expire_leases(runtime)
    [item] = await store.claim(1)
    await store.release(item)
    assert await store.claim(1) == []  # not due before its backoff
    async with runtime.engine.connect() as connection:
        due = (await connection.execute(select(INBOX.c.due_at))).scalar_one()
    assert due > utcnow() + backoff(item.attempts) - timedelta(seconds=5)
    async with runtime.engine.begin() as connection:
        await connection.execute(update(INBOX).values(attempts=MAX_ATTEMPTS - 1, due_at=utcnow()))
    [last] = await store.claim(1)
    assert last.attempts == MAX_ATTEMPTS
    await store.release(last)
    async with runtime.engine.connect() as connection:
        outcome = (await connection.execute(select(INBOX.c.outcome))).scalar_one()
    assert outcome == "failed"
    assert await store.unfinished() == 0


async def test_inbox_renew_keeps_a_slow_handling_from_being_taken(runtime: Runtime) -> None:
    store = inbox(runtime, "p1")
    await store.store("Ev1", EVENT, {})
    await expire_leases(runtime)
    await store.renew()
    assert await inbox(runtime, "p2").claim(10) == []


async def test_inbox_prune_forgets_old_finished_rows_only(runtime: Runtime) -> None:
    store = inbox(runtime, "p1")
    old = await store.store("EvOld", EVENT, {})
    await store.store("EvOpen", EVENT, {})
    assert old is not None
    await store.finish(old)
    assert await store.prune(before=utcnow() + timedelta(seconds=1)) == 1
    assert await store.store("EvOld", EVENT, {}) is not None  # forgotten, so new again
    assert await store.store("EvOpen", EVENT, {}) is None
