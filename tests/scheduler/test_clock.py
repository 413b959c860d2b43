"""The reminder clock: APScheduler ticking, one pass at a time, graceful stop."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from scheduler.clock import ReminderClock
from scheduler.run import ReminderRunner
from tests.scheduler.support import RecordingNotifier, add_certificates

TICK = timedelta(milliseconds=50)


async def wait_for(condition: object, timeout: float = 5.0) -> None:
    assert callable(condition)
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


async def test_clock_runs_a_pass_at_start_and_then_every_interval() -> None:
    passes: list[float] = []

    async def run_pass() -> None:
        passes.append(asyncio.get_running_loop().time())

    async with ReminderClock(run_pass=run_pass, interval=TICK):
        await wait_for(lambda: len(passes) >= 1, timeout=0.5)  # at start, not after 50 ms
        await wait_for(lambda: len(passes) >= 4)
    gaps = [b - a for a, b in zip(passes, passes[1:], strict=False)]
    assert all(gap >= 0.03 for gap in gaps)


async def test_clock_without_run_at_start_waits_one_interval() -> None:
    passes: list[int] = []

    async def run_pass() -> None:
        passes.append(1)

    async with ReminderClock(run_pass=run_pass, interval=timedelta(seconds=60), run_at_start=False):
        await asyncio.sleep(0.2)
    assert passes == []


async def test_clock_never_runs_two_passes_at_once() -> None:
    """max_instances=1: a slow pass is not overlapped by the next tick."""
    running = 0
    most = 0

    async def slow_pass() -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.25)
        running -= 1

    clock = ReminderClock(run_pass=slow_pass, interval=timedelta(milliseconds=20))
    async with clock:
        await wait_for(lambda: clock.passes_started >= 2)
    assert most == 1


async def test_clock_stop_lets_the_pass_in_progress_finish() -> None:
    started = asyncio.Event()
    finished = asyncio.Event()

    async def run_pass() -> None:
        started.set()
        await asyncio.sleep(0.2)
        finished.set()

    clock = ReminderClock(run_pass=run_pass, interval=timedelta(seconds=60))
    await clock.start()
    await asyncio.wait_for(started.wait(), 5)
    await clock.stop()
    assert finished.is_set()
    assert not clock.running


async def test_clock_stop_cancels_a_pass_that_outlives_the_grace_period() -> None:
    started = asyncio.Event()
    cancelled = asyncio.Event()

    async def stuck_pass() -> None:
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    clock = ReminderClock(
        run_pass=stuck_pass, interval=timedelta(seconds=60), stop_grace=timedelta(milliseconds=50)
    )
    await clock.start()
    await asyncio.wait_for(started.wait(), 5)
    async with asyncio.timeout(5):
        await clock.stop()
    assert cancelled.is_set()


async def test_clock_keeps_ticking_after_a_failed_pass() -> None:
    async def run_pass() -> None:
        if clock.passes_started == 1:
            raise RuntimeError("database went away")

    clock = ReminderClock(run_pass=run_pass, interval=TICK)
    async with clock:
        await wait_for(lambda: clock.passes_started >= 3)
    assert clock.passes_failed == 1


@pytest.mark.parametrize("interval", [timedelta(0), timedelta(seconds=-1)])
def test_clock_refuses_a_non_positive_interval(interval: timedelta) -> None:
    async def run_pass() -> None:
        pass

    with pytest.raises(ValueError, match="interval must be positive"):
        ReminderClock(run_pass=run_pass, interval=interval)


async def test_clock_with_a_real_runner_delivers_due_reminders(engine: AsyncEngine) -> None:
    await add_certificates(engine, 3, expires_in=timedelta(days=5))
    notifier = RecordingNotifier()
    runner = ReminderRunner(engine=engine, notifier=notifier)
    async with ReminderClock(run_pass=runner.run_pass, interval=timedelta(hours=1)):
        await wait_for(lambda: len(notifier.delivered) == 3)
