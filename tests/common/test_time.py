"""The one "days left" rule (round up) and aware UTC now."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from common.time import days_left, utcnow

NOW = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("remaining", "expected"),
    [
        (timedelta(days=7), 7),
        (timedelta(days=6, hours=2), 7),
        (timedelta(seconds=1), 1),
        (timedelta(hours=24), 1),
        (timedelta(hours=24, seconds=1), 2),
        (timedelta(0), 0),
        (-timedelta(hours=5), 0),
        (-timedelta(days=2, hours=1), -2),
    ],
)
def test_days_left_rounds_up(remaining: timedelta, expected: int) -> None:
    assert days_left(NOW + remaining, NOW) == expected


def test_days_left_is_positive_exactly_until_expiry() -> None:
    """A certificate has expired exactly when its days left are 0 or less."""
    for seconds in (-86_401, -86_400, -1, 0, 1, 86_399, 86_400, 86_401):
        not_after = NOW + timedelta(seconds=seconds)
        assert (days_left(not_after, NOW) > 0) == (not_after > NOW), seconds


def test_utcnow_is_aware_utc() -> None:
    assert utcnow().tzinfo is UTC
