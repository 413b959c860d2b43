"""The reminder clock: APScheduler ticking, one pass at a time, graceful stop."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from scheduler.clock import ReminderClock
from scheduler.run import ReminderRunner
from tests.scheduler.support import RecordingNotifier, add_certificates

TICK = timedelta(milliseconds=50)


class Passes:
    """A fake pass that records when it ran; ``body`` runs inside it."""

    def __init__(self, body: Callable[[int], Awaitable[None]] | None = None) -> None:
        self.times: list[float] = []
        self._body = body
        self._changed = asyncio.Condition()

    async def __call__(self) -> None:
        self.times.append(asyncio.get_running_loop().time())
        async with self._changed:
            self._changed.notify_all()
        if self._body is not None:
            await self._body(len(self.times))

    async def reach(self, count: int, *, within: float = 5.0) -> None:
        async with asyncio.timeout(within), self._changed:
            await self._changed.wait_for(lambda: len(self.times) >= count)


async def test_clock_runs_a_pass_at_start_and_then_every_interval() -> None:
    # With an hour's interval, a first pass can only be the one at start.
    at_start = Passes()
    async with ReminderClock(run_pass=at_start, interval=timedelta(hours=1)):
        await at_start.reach(1, within=30)
    assert len(at_start.times) == 1
    # Then one pass an interval: after the one at start, passes fire on the interval's grid,
    # which begins when the clock starts, and never early; so the fourth comes at least three
    # intervals after the start however late a loaded machine runs any of them. (The gap
    # between two passes is no measure: after a late pass the next one keeps to the grid and
    # may follow it at once; nor is the first pass's time, which load can delay.)
    ticking = Passes()
    started = asyncio.get_running_loop().time()
    async with ReminderClock(run_pass=ticking, interval=TICK):
        await ticking.reach(4, within=30)
    assert ticking.times[3] - started >= 0.9 * 3 * TICK.total_seconds()


async def test_clock_without_run_at_start_waits_one_interval() -> None:
    passes = Passes()
    async with ReminderClock(run_pass=passes, interval=timedelta(seconds=60), run_at_start=False):
        await asyncio.sleep(0.2)
    assert passes.times == []


async def test_clock_never_runs_two_passes_at_once() -> None:
    """max_instances=1: a slow pass is not overlapped by the next tick."""
    running = 0
    most = 0

    async def slow(_number: int) -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.25)
        running -= 1

    passes = Passes(slow)
    async with ReminderClock(run_pass=passes, interval=timedelta(milliseconds=20)):
        await passes.reach(2)
    assert most == 1


async def test_clock_stop_lets_the_pass_in_progress_finish() -> None:
    finished = asyncio.Event()

    async def body(_number: int) -> None:
        await asyncio.sleep(0.2)
        finished.set()

    passes = Passes(body)
    clock = ReminderClock(run_pass=passes, interval=timedelta(seconds=60))
    await clock.start()
    await passes.reach(1)
    await clock.stop()
    assert finished.is_set()
    assert not clock.running


async def test_clock_stop_cancels_a_pass_that_outlives_the_grace_period() -> None:
    cancelled = asyncio.Event()

    async def stuck(_number: int) -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    passes = Passes(stuck)
    clock = ReminderClock(
        run_pass=passes, interval=timedelta(seconds=60), stop_grace=timedelta(milliseconds=50)
    )
    await clock.start()
    await passes.reach(1)
    async with asyncio.timeout(5):
        await clock.stop()
    assert cancelled.is_set()


async def test_clock_keeps_ticking_after_a_failed_pass() -> None:
    async def body(number: int) -> None:
        if number == 1:
            raise RuntimeError("database went away")

    passes = Passes(body)
    clock = ReminderClock(run_pass=passes, interval=TICK)
    async with clock:
        await passes.reach(3)
    assert clock.passes_failed == 1


@pytest.mark.parametrize("interval", [timedelta(0), timedelta(seconds=-1)])
def test_clock_refuses_a_non_positive_interval(interval: timedelta) -> None:
    with pytest.raises(ValueError, match="interval must be positive"):
        ReminderClock(run_pass=Passes(), interval=interval)


async def test_clock_with_a_real_runner_delivers_due_reminders(engine: AsyncEngine) -> None:
    await add_certificates(engine, 3, expires_in=timedelta(days=5))
    notifier = RecordingNotifier()
    runner = ReminderRunner(engine=engine, notifier=notifier)
    async with ReminderClock(run_pass=runner.run_pass, interval=timedelta(hours=1)):
        async with asyncio.timeout(10):
            await notifier.wait_delivered(3)
