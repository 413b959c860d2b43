"""Reminder passes against a real database (SQLite and PostgreSQL): claim, deliver, record."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta

import pytest
import sqlalchemy as sa
from prometheus_client import REGISTRY
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col

from common.time import utcnow
from enrollment.db import create_engine, session_factory
from scheduler.models import ReminderSent
from scheduler.policy import Outcome, Reminder, ReminderPolicy
from scheduler.run import ReminderRunner, Result, RunConfig
from tests.scheduler.support import (
    RecordingNotifier,
    add_certificates,
    fail_first,
    reminder_rows,
)

FAST_RETRY = ReminderPolicy(
    retry_backoff=timedelta(microseconds=1), max_retry_backoff=timedelta(microseconds=1)
)


def runner(
    engine: AsyncEngine,
    notifier: RecordingNotifier,
    *,
    policy: ReminderPolicy | None = None,
    **config: object,
) -> ReminderRunner:
    run_config = RunConfig(policy=policy or ReminderPolicy(), **config)  # type: ignore[arg-type]
    return ReminderRunner(engine=engine, notifier=notifier, config=run_config)


async def test_run_pass_sends_due_reminder_and_records_it(engine: AsyncEngine) -> None:
    [cert] = await add_certificates(engine, expires_in=timedelta(days=5))
    notifier = RecordingNotifier()
    report = await runner(engine, notifier).run_pass()
    assert [(r.result, r.reminder.threshold_days) for r in report.results] == [(Result.SENT, 7)]
    assert [r.certificate.serial for r in notifier.delivered] == [cert.serial]
    [row] = await reminder_rows(engine)
    assert (row.certificate_id, row.threshold_days, row.outcome) == (cert.id, 7, Outcome.SENT)
    assert (row.channel, row.attempts, row.last_error) == ("test", 1, None)
    assert row.sent_at is not None
    assert row.sent_at.tzinfo is not None


async def test_run_pass_counts_results_in_prometheus_metrics(engine: AsyncEngine) -> None:
    def sent_so_far() -> float:
        value = REGISTRY.get_sample_value("certdesk_reminders_total", {"result": "sent"})
        return value or 0.0

    before = sent_so_far()
    await add_certificates(engine, 2, expires_in=timedelta(days=5))
    await runner(engine, RecordingNotifier()).run_pass()
    assert sent_so_far() == before + 2
    assert REGISTRY.get_sample_value("certdesk_reminder_pass_seconds_count") is not None


async def test_run_pass_second_pass_sends_nothing_new(engine: AsyncEngine) -> None:
    await add_certificates(engine, 3, expires_in=timedelta(days=5))
    notifier = RecordingNotifier()
    await runner(engine, notifier).run_pass()
    report = await runner(engine, notifier).run_pass()
    assert report.results == ()
    assert len(notifier.delivered) == 3


async def test_run_pass_dry_run_claims_and_sends_nothing(engine: AsyncEngine) -> None:
    await add_certificates(engine, 2, expires_in=timedelta(days=5))
    notifier = RecordingNotifier()
    report = await runner(engine, notifier).run_pass(dry_run=True)
    assert [r.result for r in report.results] == [Result.DUE, Result.DUE]
    assert notifier.attempts == []
    assert await reminder_rows(engine) == []
    assert report.as_dict()["due"] == 2


async def test_run_pass_skips_revoked_renewed_and_distant_certificates(
    engine: AsyncEngine,
) -> None:
    await add_certificates(engine, expires_in=timedelta(days=5), status="revoked")
    await add_certificates(
        engine, expires_in=timedelta(days=5), status="superseded", superseded_by="abc"
    )
    await add_certificates(engine, expires_in=timedelta(days=45))
    await add_certificates(engine, expires_in=-timedelta(days=400))
    notifier = RecordingNotifier()
    report = await runner(engine, notifier).run_pass()
    assert report.results == ()
    assert report.candidates == 0


async def test_run_pass_expired_certificate_gets_one_expired_notice(engine: AsyncEngine) -> None:
    await add_certificates(engine, expires_in=-timedelta(hours=2))
    notifier = RecordingNotifier()
    await runner(engine, notifier).run_pass()
    await runner(engine, notifier).run_pass()
    assert [(r.threshold_days, r.kind) for r in notifier.delivered] == [(0, "expired")]


async def test_run_pass_as_of_later_sends_that_days_reminder(engine: AsyncEngine) -> None:
    """Passes "as of" later dates walk through the thresholds, one reminder each."""
    await add_certificates(engine, expires_in=timedelta(days=40))
    notifier = RecordingNotifier()
    now = utcnow()
    for days_later in (5, 11, 12, 27, 34, 39, 40, 41):
        await runner(engine, notifier).run_pass(as_of=now + timedelta(days=days_later))
    assert [r.threshold_days for r in notifier.delivered] == [30, 14, 7, 1, 0]


async def test_run_pass_refuses_naive_as_of(engine: AsyncEngine) -> None:
    naive = utcnow().replace(tzinfo=None)
    with pytest.raises(ValueError, match="timezone-aware"):
        await runner(engine, RecordingNotifier()).run_pass(as_of=naive)


# -- failures and retries -------------------------------------------------------------------


async def test_run_pass_transient_failure_marked_failed_and_retried_later(
    engine: AsyncEngine,
) -> None:
    await add_certificates(engine, expires_in=timedelta(days=5))
    notifier = RecordingNotifier(script=fail_first(1))
    first = await runner(engine, notifier, policy=FAST_RETRY).run_pass()
    assert [(r.result, r.error) for r in first.results] == [
        (Result.FAILED, "the fake chat service is down")
    ]
    [row] = await reminder_rows(engine)
    assert (row.outcome, row.attempts, row.sent_at) == (Outcome.FAILED, 1, None)
    assert row.last_error == "the fake chat service is down"

    second = await runner(engine, notifier, policy=FAST_RETRY).run_pass()
    assert [(r.result, r.reminder.attempt) for r in second.results] == [(Result.SENT, 2)]
    [row] = await reminder_rows(engine)
    assert (row.outcome, row.attempts, row.last_error) == (Outcome.SENT, 2, None)
    assert len(notifier.delivered) == 1


async def test_run_pass_failed_reminder_waits_for_backoff(engine: AsyncEngine) -> None:
    await add_certificates(engine, expires_in=timedelta(days=5))
    notifier = RecordingNotifier(script=fail_first(1))
    policy = ReminderPolicy(retry_backoff=timedelta(minutes=5))
    await runner(engine, notifier, policy=policy).run_pass()
    again = await runner(engine, notifier, policy=policy).run_pass()
    assert again.results == ()
    assert len(notifier.attempts) == 1


async def test_run_pass_permanent_failure_marked_undeliverable_not_retried(
    engine: AsyncEngine,
) -> None:
    await add_certificates(engine, expires_in=timedelta(days=5))
    notifier = RecordingNotifier(script=fail_first(1, permanent=True))
    report = await runner(engine, notifier, policy=FAST_RETRY).run_pass()
    assert [r.result for r in report.results] == [Result.UNDELIVERABLE]
    assert report.delivery_failed
    again = await runner(engine, notifier, policy=FAST_RETRY).run_pass()
    assert again.results == ()
    [row] = await reminder_rows(engine)
    assert row.outcome == Outcome.UNDELIVERABLE


async def test_run_pass_gives_up_after_max_attempts(engine: AsyncEngine) -> None:
    await add_certificates(engine, expires_in=timedelta(days=5))
    notifier = RecordingNotifier(script=fail_first(100))
    policy = ReminderPolicy(
        max_attempts=3,
        retry_backoff=timedelta(microseconds=1),
        max_retry_backoff=timedelta(microseconds=1),
    )
    results = [(await runner(engine, notifier, policy=policy).run_pass()).results for _ in range(5)]
    assert [[r.result for r in rs] for rs in results] == [
        [Result.FAILED],
        [Result.FAILED],
        [Result.UNDELIVERABLE],
        [],
        [],
    ]
    [row] = await reminder_rows(engine)
    assert (row.outcome, row.attempts) == (Outcome.UNDELIVERABLE, 3)


async def test_run_pass_notifier_timeout_counts_as_transient_failure(engine: AsyncEngine) -> None:
    await add_certificates(engine, expires_in=timedelta(days=5))
    notifier = RecordingNotifier(delay=5)
    report = await runner(engine, notifier, delivery_timeout=timedelta(milliseconds=50)).run_pass()
    assert [(r.result, r.error) for r in report.results] == [
        (Result.FAILED, "delivery timed out after 0.05 s")
    ]


async def test_run_pass_unexpected_notifier_error_counts_as_transient_failure(
    engine: AsyncEngine,
) -> None:
    await add_certificates(engine, 2, expires_in=timedelta(days=5))

    def explode(reminder: Reminder) -> None:
        if reminder.certificate.certificate_id % 2:
            raise RuntimeError("bug in the notifier")

    notifier = RecordingNotifier(script=explode)
    report = await runner(engine, notifier).run_pass()
    assert sorted(str(r.result) for r in report.results) == ["failed", "sent"]
    assert "RuntimeError: bug in the notifier" in {r.error for r in report.results}


async def test_run_pass_takes_over_stale_pending_claim(engine: AsyncEngine) -> None:
    """A clock that died mid-delivery left a pending row; after the lease it is retried."""
    [cert] = await add_certificates(engine, expires_in=timedelta(days=5))
    long_ago = utcnow() - timedelta(hours=1)
    async with session_factory(engine)() as session, session.begin():
        assert cert.id is not None
        session.add(
            ReminderSent(
                certificate_id=cert.id,
                threshold_days=7,
                channel="test",
                claimed_by="dead-host:1",
                claimed_at=long_ago,
                updated_at=long_ago,
            )
        )
    notifier = RecordingNotifier()
    report = await runner(engine, notifier).run_pass()
    assert [(r.result, r.reminder.attempt) for r in report.results] == [(Result.SENT, 2)]
    [row] = await reminder_rows(engine)
    assert (row.outcome, row.attempts) == (Outcome.SENT, 2)
    assert row.claimed_by != "dead-host:1"


async def test_run_pass_leaves_fresh_pending_claim_alone(engine: AsyncEngine) -> None:
    [cert] = await add_certificates(engine, expires_in=timedelta(days=5))
    async with session_factory(engine)() as session, session.begin():
        assert cert.id is not None
        session.add(
            ReminderSent(
                certificate_id=cert.id, threshold_days=7, channel="test", claimed_by="busy:1"
            )
        )
    report = await runner(engine, RecordingNotifier()).run_pass()
    assert report.results == ()


async def test_run_pass_outcome_not_recorded_over_a_newer_claim(engine: AsyncEngine) -> None:
    """If another clock took the claim over mid-delivery, the late outcome does not overwrite it."""
    await add_certificates(engine, expires_in=timedelta(days=5))
    sessions = session_factory(engine)

    async def taken_over_meanwhile() -> None:
        async with sessions() as session, session.begin():
            await session.execute(
                sa.update(ReminderSent).values(attempts=col(ReminderSent.attempts) + 1)
            )

    class SlowNotifier(RecordingNotifier):
        async def notify(self, reminder: Reminder) -> None:
            await taken_over_meanwhile()
            await super().notify(reminder)

    report = await runner(engine, SlowNotifier()).run_pass()
    assert [r.result for r in report.results] == [Result.SENT]
    [row] = await reminder_rows(engine)
    assert (row.outcome, row.attempts) == (Outcome.PENDING, 2)


# -- concurrency -----------------------------------------------------------------------------


async def test_run_pass_concurrent_clocks_deliver_each_reminder_once(
    engine: AsyncEngine, database_url: str
) -> None:
    """Three clocks with their own connection pools run the same pass at the same moment."""
    await add_certificates(engine, 30, expires_in=timedelta(days=5))
    await add_certificates(engine, 10, expires_in=-timedelta(hours=1))
    engines = [create_engine(database_url) for _ in range(3)]
    notifiers = [RecordingNotifier(channel=f"clock{i}", delay=0.005) for i in range(3)]
    try:
        reports = await asyncio.gather(
            *(
                runner(e, n, concurrency=2, worker=f"clock{i}").run_pass()
                for i, (e, n) in enumerate(zip(engines, notifiers, strict=True))
            )
        )
    finally:
        for e in engines:
            await e.dispose()
    delivered = Counter(
        (r.certificate.certificate_id, r.threshold_days) for n in notifiers for r in n.delivered
    )
    assert len(delivered) == 40
    assert set(delivered.values()) == {1}
    assert sum(report.count(Result.SENT) for report in reports) == 40
    rows = await reminder_rows(engine)
    assert len(rows) == 40
    assert {row.outcome for row in rows} == {Outcome.SENT}
    assert Counter(row.channel for row in rows) == Counter(
        n.channel for n in notifiers for _ in n.delivered
    )


async def test_run_pass_concurrent_retries_deliver_each_reminder_once(
    engine: AsyncEngine, database_url: str
) -> None:
    """Failed reminders retried by several clocks at once are delivered once each."""
    await add_certificates(engine, 20, expires_in=timedelta(days=5))
    await runner(engine, RecordingNotifier(script=fail_first(100)), policy=FAST_RETRY).run_pass()
    assert {row.outcome for row in await reminder_rows(engine)} == {Outcome.FAILED}
    engines = [create_engine(database_url) for _ in range(3)]
    notifiers = [RecordingNotifier(delay=0.005) for _ in range(3)]
    try:
        await asyncio.gather(
            *(
                runner(e, n, policy=FAST_RETRY, concurrency=2).run_pass()
                for e, n in zip(engines, notifiers, strict=True)
            )
        )
    finally:
        for e in engines:
            await e.dispose()
    delivered = Counter(r.certificate.certificate_id for n in notifiers for r in n.delivered)
    assert len(delivered) == 20
    assert set(delivered.values()) == {1}
    rows = await reminder_rows(engine)
    assert {(row.outcome, row.attempts) for row in rows} == {(Outcome.SENT, 2)}


def test_run_config_refuses_lease_shorter_than_twice_the_delivery_timeout() -> None:
    with pytest.raises(ValueError, match="claim_lease"):
        RunConfig(
            policy=ReminderPolicy(claim_lease=timedelta(seconds=90)),
            delivery_timeout=timedelta(seconds=60),
        )
