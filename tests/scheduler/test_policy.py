"""The pure reminder policy: which (certificate, threshold) is due, without a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from common.time import DAY
from scheduler.policy import (
    EXPIRED_NOTICE,
    CertificateFacts,
    Outcome,
    Reminder,
    ReminderKind,
    ReminderPolicy,
    ReminderRecord,
    due_reminders,
)

NOW = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
POLICY = ReminderPolicy()


def cert(
    *,
    expires_in: timedelta,
    lifetime: timedelta = timedelta(days=365),
    certificate_id: int = 1,
    status: str = "active",
    superseded_by: str | None = None,
) -> CertificateFacts:
    not_after = NOW + expires_in
    return CertificateFacts(
        certificate_id=certificate_id,
        serial=f"{certificate_id:x}",
        subject_cn=f"Holder {certificate_id}",
        not_before=not_after - lifetime,
        not_after=not_after,
        status=status,
        owner_slack_user="U1",
        superseded_by=superseded_by,
    )


def record(
    threshold: int,
    outcome: Outcome,
    *,
    attempts: int = 1,
    updated_at: datetime = NOW,
    certificate_id: int = 1,
) -> ReminderRecord:
    return ReminderRecord(
        record_id=threshold + 1000,
        certificate_id=certificate_id,
        threshold_days=threshold,
        outcome=outcome,
        attempts=attempts,
        updated_at=updated_at,
    )


def thresholds_due(
    certificates: list[CertificateFacts],
    records: list[ReminderRecord] | None = None,
    *,
    as_of: datetime = NOW,
    policy: ReminderPolicy = POLICY,
    now: datetime | None = None,
) -> list[int]:
    due = due_reminders(certificates, records or [], policy=policy, as_of=as_of, now=now)
    return [r.threshold_days for r in due]


def simulate(
    certificate: CertificateFacts,
    times: list[datetime],
    *,
    policy: ReminderPolicy = POLICY,
) -> list[Reminder]:
    """Passes at ``times`` in order, every delivery succeeding; returns what was sent."""
    records: dict[int, ReminderRecord] = {}
    sent: list[Reminder] = []
    for at in times:
        due = due_reminders([certificate], records.values(), policy=policy, as_of=at)
        assert len(due) <= 1
        for reminder in due:
            records[reminder.threshold_days] = ReminderRecord(
                record_id=len(records) + 1,
                certificate_id=certificate.certificate_id,
                threshold_days=reminder.threshold_days,
                outcome=Outcome.SENT,
                attempts=reminder.attempt,
                updated_at=at,
            )
            sent.append(reminder)
    return sent


# -- examples -------------------------------------------------------------------------------


def test_due_reminders_nothing_before_the_largest_threshold() -> None:
    assert thresholds_due([cert(expires_in=timedelta(days=30, seconds=1))]) == []


def test_due_reminders_largest_threshold_when_reached() -> None:
    assert thresholds_due([cert(expires_in=timedelta(days=30))]) == [30]


def test_due_reminders_first_pass_close_to_expiry_sends_only_most_urgent() -> None:
    """No burst of 30/14/7 for a certificate first seen five days before expiry."""
    assert thresholds_due([cert(expires_in=timedelta(days=5))]) == [7]


def test_due_reminders_skips_thresholds_passed_while_clock_was_down() -> None:
    records = [record(30, Outcome.SENT)]
    assert thresholds_due([cert(expires_in=timedelta(days=3))], records) == [7]


def test_due_reminders_never_repeats_a_sent_threshold() -> None:
    records = [record(7, Outcome.SENT)]
    assert thresholds_due([cert(expires_in=timedelta(days=3))], records) == []


def test_due_reminders_never_steps_back_to_a_less_urgent_threshold() -> None:
    """A pass "as of" an earlier time does not send 30 after 7 was sent."""
    records = [record(7, Outcome.SENT)]
    assert thresholds_due([cert(expires_in=timedelta(days=20))], records) == []


def test_due_reminders_skips_revoked_certificate() -> None:
    assert thresholds_due([cert(expires_in=timedelta(days=5), status="revoked")]) == []


def test_due_reminders_skips_renewed_certificate() -> None:
    superseded = cert(expires_in=timedelta(days=5), status="superseded", superseded_by="beef")
    assert thresholds_due([superseded]) == []


def test_due_reminders_skips_certificate_with_superseded_by_even_if_marked_active() -> None:
    assert thresholds_due([cert(expires_in=timedelta(days=5), superseded_by="beef")]) == []


def test_due_reminders_expired_certificate_gets_expired_notice() -> None:
    due = due_reminders(
        [cert(expires_in=-timedelta(hours=3))], [], policy=POLICY, as_of=NOW, now=NOW
    )
    assert [(r.threshold_days, r.kind) for r in due] == [(EXPIRED_NOTICE, ReminderKind.EXPIRED)]


def test_due_reminders_expired_notice_only_once() -> None:
    records = [record(1, Outcome.SENT), record(EXPIRED_NOTICE, Outcome.SENT)]
    assert thresholds_due([cert(expires_in=-timedelta(days=1))], records) == []


def test_due_reminders_no_expired_notice_after_the_window() -> None:
    """The first pass after installation says nothing about long-dead certificates."""
    policy = ReminderPolicy(expired_notice_window=timedelta(days=30))
    assert thresholds_due([cert(expires_in=-timedelta(days=31))], policy=policy) == []
    assert thresholds_due([cert(expires_in=-timedelta(days=29))], policy=policy) == [0]


def test_due_reminders_threshold_longer_than_lifetime_does_not_apply() -> None:
    """A certificate valid for ten days is not told at issuance that it expires in ten days."""
    short = cert(expires_in=timedelta(days=10), lifetime=timedelta(days=10))
    assert thresholds_due([short]) == []
    later = cert(expires_in=timedelta(days=6), lifetime=timedelta(days=10))
    assert thresholds_due([later]) == [7]


def test_due_reminders_sorted_most_urgent_first() -> None:
    certificates = [
        cert(expires_in=timedelta(days=20), certificate_id=1),
        cert(expires_in=timedelta(days=2), certificate_id=2),
        cert(expires_in=-timedelta(days=1), certificate_id=3),
    ]
    due = due_reminders(certificates, [], policy=POLICY, as_of=NOW)
    assert [r.certificate.certificate_id for r in due] == [3, 2, 1]


def test_due_reminders_records_of_other_certificates_do_not_matter() -> None:
    records = [record(7, Outcome.SENT, certificate_id=2)]
    assert thresholds_due([cert(expires_in=timedelta(days=5))], records) == [7]


# -- retries --------------------------------------------------------------------------------


def test_due_reminders_failed_delivery_retried_after_backoff() -> None:
    policy = ReminderPolicy(retry_backoff=timedelta(minutes=5))
    failed = [record(7, Outcome.FAILED, attempts=1, updated_at=NOW)]
    certificates = [cert(expires_in=timedelta(days=5))]
    assert thresholds_due(certificates, failed, policy=policy, now=NOW + timedelta(minutes=4)) == []
    due = due_reminders(
        certificates, failed, policy=policy, as_of=NOW, now=NOW + timedelta(minutes=5)
    )
    assert [(r.threshold_days, r.attempt, r.retry_of) for r in due] == [(7, 2, failed[0])]


def test_retry_delay_doubles_up_to_the_cap() -> None:
    policy = ReminderPolicy(
        retry_backoff=timedelta(minutes=5), max_retry_backoff=timedelta(minutes=30)
    )
    delays = [policy.retry_delay(n) for n in range(1, 6)]
    assert delays == [timedelta(minutes=m) for m in (5, 10, 20, 30, 30)]


def test_due_reminders_gives_up_after_max_attempts() -> None:
    policy = ReminderPolicy(max_attempts=3)
    failed = [record(7, Outcome.FAILED, attempts=3)]
    later = NOW + timedelta(days=1)
    assert (
        thresholds_due([cert(expires_in=timedelta(days=5))], failed, policy=policy, now=later) == []
    )


def test_due_reminders_undeliverable_not_retried() -> None:
    gone = [record(7, Outcome.UNDELIVERABLE)]
    later = NOW + timedelta(days=1)
    assert thresholds_due([cert(expires_in=timedelta(days=5))], gone, now=later) == []


def test_due_reminders_fresh_pending_claim_left_alone() -> None:
    """Another clock is delivering it right now."""
    pending = [record(7, Outcome.PENDING, updated_at=NOW)]
    soon = NOW + timedelta(minutes=9)
    assert thresholds_due([cert(expires_in=timedelta(days=5))], pending, now=soon) == []


def test_due_reminders_stale_pending_claim_taken_over_after_lease() -> None:
    """A process that died while delivering does not lose the reminder for good."""
    policy = ReminderPolicy(claim_lease=timedelta(minutes=10))
    pending = [record(7, Outcome.PENDING, updated_at=NOW)]
    later = NOW + timedelta(minutes=10)
    due = due_reminders(
        [cert(expires_in=timedelta(days=5))], pending, policy=policy, as_of=NOW, now=later
    )
    assert [(r.threshold_days, r.attempt) for r in due] == [(7, 2)]


def test_due_reminders_retry_timing_follows_wall_clock_not_as_of() -> None:
    """A pass "as of" next week does not take over a claim another clock made a second ago."""
    pending = [record(7, Outcome.PENDING, updated_at=NOW)]
    certificate = cert(expires_in=timedelta(days=10))
    next_week = NOW + timedelta(days=7)
    assert thresholds_due([certificate], pending, as_of=next_week, now=NOW) == []


def test_due_reminders_failed_less_urgent_reminder_replaced_by_more_urgent() -> None:
    failed = [record(14, Outcome.FAILED, updated_at=NOW - timedelta(days=1))]
    assert thresholds_due([cert(expires_in=timedelta(days=6))], failed) == [7]


# -- validation and arithmetic ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("thresholds", "message"),
    [
        ((), "at least one"),
        ((30, 0), "1 to 3650"),
        ((30, -1), "1 to 3650"),
        ((30, 3651), "1 to 3650"),
        ((30, True), "whole number"),
        ((7, 14, 7), "repeated: [7]"),
    ],
)
def test_reminder_policy_refuses_bad_thresholds(thresholds: tuple[int, ...], message: str) -> None:
    with pytest.raises(ValueError, match="threshold") as error:
        ReminderPolicy(thresholds=thresholds)
    assert message in str(error.value)


def test_reminder_policy_sorts_thresholds_most_distant_first() -> None:
    assert ReminderPolicy(thresholds=(1, 30, 7)).thresholds == (30, 7, 1)


def test_certificate_facts_refuses_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="naive"):
        CertificateFacts(
            certificate_id=1,
            serial="1",
            subject_cn="X",
            not_before=datetime(2027, 1, 1),
            not_after=NOW,
        )


def test_due_reminders_refuses_naive_as_of() -> None:
    with pytest.raises(ValueError, match="as_of must be timezone-aware"):
        due_reminders([], [], policy=POLICY, as_of=datetime(2027, 1, 1))


# -- properties -----------------------------------------------------------------------------

thresholds_strategy = st.lists(
    st.integers(min_value=1, max_value=90), min_size=1, max_size=6, unique=True
).map(tuple)
offsets = st.timedeltas(min_value=-timedelta(days=60), max_value=timedelta(days=120))
lifetimes = st.timedeltas(min_value=timedelta(hours=1), max_value=timedelta(days=800))
statuses = st.sampled_from(["active", "superseded", "revoked"])
outcomes = st.sampled_from(list(Outcome))


@st.composite
def certificates(draw: st.DrawFn, certificate_id: int = 1) -> CertificateFacts:
    return cert(
        expires_in=draw(offsets),
        lifetime=draw(lifetimes),
        certificate_id=certificate_id,
        status=draw(statuses),
    )


@given(thresholds=thresholds_strategy, certificate=certificates())
def test_due_reminders_picks_the_most_urgent_reached_threshold(
    thresholds: tuple[int, ...], certificate: CertificateFacts
) -> None:
    """Whatever is returned is reached, applies to the lifetime, and nothing more urgent is."""
    policy = ReminderPolicy(thresholds=thresholds)
    due = due_reminders([certificate], [], policy=policy, as_of=NOW)
    remaining = certificate.not_after - NOW
    lifetime = certificate.not_after - certificate.not_before
    applicable = [t for t in thresholds if remaining <= t * DAY < lifetime]
    if certificate.status != "active":
        assert due == []
    elif remaining <= timedelta(0):
        in_window = -remaining <= policy.expired_notice_window
        assert [r.threshold_days for r in due] == ([EXPIRED_NOTICE] if in_window else [])
    elif applicable:
        assert [r.threshold_days for r in due] == [min(applicable)]
        assert due[0].days_left <= min(applicable)
    else:
        assert due == []


@given(
    records=st.lists(
        st.tuples(
            st.sampled_from([0, 1, 7, 14, 30]),
            outcomes,
            st.integers(min_value=1, max_value=6),
        ),
        max_size=6,
    ),
    certificate=certificates(),
    later=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=2)),
)
def test_due_reminders_new_claim_only_for_unrecorded_threshold(
    records: list[tuple[int, Outcome, int]], certificate: CertificateFacts, later: timedelta
) -> None:
    """A first attempt never names a recorded threshold; a retry only a failed or stale one."""
    existing = {t: record(t, outcome, attempts=n) for t, outcome, n in records}
    due = due_reminders([certificate], existing.values(), policy=POLICY, as_of=NOW, now=NOW + later)
    assert len(due) <= 1
    for reminder in due:
        prior = existing.get(reminder.threshold_days)
        if reminder.retry_of is None:
            assert prior is None
            assert reminder.attempt == 1
            assert all(t > reminder.threshold_days for t in existing)
        else:
            assert prior is reminder.retry_of
            assert prior.outcome in (Outcome.FAILED, Outcome.PENDING)
            assert reminder.attempt == prior.attempts + 1 <= POLICY.max_attempts


@settings(max_examples=200, deadline=None)
@given(
    thresholds=thresholds_strategy,
    lifetime=lifetimes,
    steps=st.lists(
        st.timedeltas(min_value=timedelta(minutes=1), max_value=timedelta(days=20)),
        min_size=1,
        max_size=60,
    ),
)
def test_simulated_passes_send_each_threshold_once_ever_more_urgent(
    thresholds: tuple[int, ...], lifetime: timedelta, steps: list[timedelta]
) -> None:
    """Over any sequence of passes: no repeats, strictly more urgent each time, never a burst."""
    certificate = cert(expires_in=timedelta(days=100), lifetime=lifetime)
    times, at = [], certificate.not_before
    for step in steps:
        at += step
        times.append(at)
    sent = [
        r.threshold_days
        for r in simulate(certificate, times, policy=ReminderPolicy(thresholds=thresholds))
    ]
    assert sent == sorted(set(sent), reverse=True)


@settings(max_examples=50, deadline=None)
@given(thresholds=thresholds_strategy, lifetime_days=st.integers(min_value=1, max_value=400))
def test_simulated_hourly_passes_send_every_applicable_threshold_then_expired(
    thresholds: tuple[int, ...], lifetime_days: int
) -> None:
    """A clock that never stops sends each threshold shorter than the lifetime, then "expired"."""
    lifetime = timedelta(days=lifetime_days)
    certificate = cert(expires_in=timedelta(days=1), lifetime=lifetime)
    policy = ReminderPolicy(thresholds=thresholds)
    start = max(certificate.not_before, certificate.not_after - policy.horizon - DAY)
    hours = int((certificate.not_after + 2 * DAY - start) / timedelta(hours=1))
    times = [start + timedelta(hours=h) for h in range(hours)]
    sent = [r.threshold_days for r in simulate(certificate, times, policy=policy)]
    expected = sorted((t for t in thresholds if t * DAY < lifetime), reverse=True)
    assert sent == [*expected, EXPIRED_NOTICE]
