"""The in-memory sliding window behind the per-client and per-source limits."""

from __future__ import annotations

from datetime import timedelta

import pytest

from enrollment.ratelimit import WindowLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_window_limiter_counts_per_key_and_frees_as_events_leave_the_window() -> None:
    clock = Clock()
    limiter = WindowLimiter(limit=3, window=timedelta(seconds=60), clock=clock)
    for _ in range(3):
        assert limiter.retry_after("a") is None
        limiter.hit("a")
        clock.now += 10
    assert limiter.retry_after("a") == 30  # the first event leaves the window at 1060
    assert limiter.retry_after("b") is None
    clock.now += 30
    assert limiter.retry_after("a") is None


def test_window_limiter_keeps_a_bounded_number_of_keys() -> None:
    limiter = WindowLimiter(limit=1, window=timedelta(minutes=1), max_keys=10, clock=Clock())
    for n in range(100):
        limiter.hit(str(n))
    assert len(limiter._events) == 10
    assert limiter.retry_after("99") is not None


@pytest.mark.parametrize(("limit", "window"), [(0, timedelta(seconds=1)), (1, timedelta(0))])
def test_window_limiter_refuses_a_useless_configuration(limit: int, window: timedelta) -> None:
    with pytest.raises(ValueError, match="must be"):
        WindowLimiter(limit=limit, window=window)
