"""The reminder clock: one reminder pass every N minutes on an APScheduler 3 AsyncIOScheduler.

A pass that is still running when the next is due is not doubled (``max_instances=1``), and
runs missed while the loop was busy collapse into one (``coalesce``). Several clocks, in one
process or many, may run against one database: the passes claim reminders through it (see
``scheduler.run``). ``certdesk serve`` runs a clock inside the web process and ``certdesk clock``
runs one alone::

    async with ReminderClock(run_pass=runner.run_pass, interval=timedelta(minutes=15)):
        await stopped.wait()
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, timedelta
from types import TracebackType
from typing import Any, Self

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from common.time import utcnow

log = logging.getLogger(__name__)

JOB_ID = "reminder-pass"


class ReminderClock:
    """Runs ``run_pass`` every ``interval``, first right at start unless ``run_at_start=False``.
    ``name`` says in its log lines which clock it is (the mail queue runs on one too).

    ``stop`` lets a pass in progress finish for up to ``stop_grace`` and then cancels it (its
    claimed-but-unrecorded reminders are retried after the claim lease; see ``scheduler.run``).
    """

    def __init__(
        self,
        *,
        run_pass: Callable[[], Awaitable[object]],
        interval: timedelta,
        name: str = "reminder",
        run_at_start: bool = True,
        stop_grace: timedelta = timedelta(seconds=30),
    ) -> None:
        if interval <= timedelta(0):
            raise ValueError(f"interval must be positive, got {interval}")
        if stop_grace < timedelta(0):
            raise ValueError("stop_grace must not be negative")
        self._run_pass = run_pass
        self.interval = interval
        self.name = name
        self._run_at_start = run_at_start
        self._stop_grace = stop_grace
        self._scheduler: AsyncIOScheduler | None = None
        self._current: asyncio.Task[Any] | None = None
        self.passes_started = 0
        self.passes_failed = 0

    @property
    def running(self) -> bool:
        return self._scheduler is not None

    async def start(self) -> None:
        """Start ticking on the running event loop."""
        if self._scheduler is not None:
            raise RuntimeError("the reminder clock is already running")
        scheduler = AsyncIOScheduler(timezone=UTC)
        scheduler.add_job(
            self._tick,
            IntervalTrigger(seconds=self.interval.total_seconds(), timezone=UTC),
            id=JOB_ID,
            name=f"{self.name} pass",
            coalesce=True,
            max_instances=1,
            misfire_grace_time=max(1, int(self.interval.total_seconds())),
            **({"next_run_time": utcnow()} if self._run_at_start else {}),
        )
        scheduler.start()
        self._scheduler = scheduler
        log.info(
            "%s clock started",
            self.name,
            extra={"clock": self.name, "interval_seconds": self.interval.total_seconds()},
        )

    async def stop(self) -> None:
        """Stop ticking; let a pass in progress finish (up to ``stop_grace``)."""
        scheduler, self._scheduler = self._scheduler, None
        if scheduler is None:
            return
        scheduler.pause()
        current = self._current
        if current is not None and not current.done():
            done, _ = await asyncio.wait({current}, timeout=self._stop_grace.total_seconds())
            if not done:
                log.warning(
                    "%s pass still running at shutdown: cancelling it",
                    self.name,
                    extra={"clock": self.name},
                )
        scheduler.shutdown(wait=False)  # cancels a pass that outlived the grace period
        if current is not None and not current.done():
            await asyncio.wait({current})
        log.info("%s clock stopped", self.name, extra={"clock": self.name})

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def _tick(self) -> None:
        self._current = asyncio.current_task()
        self.passes_started += 1
        try:
            await self._run_pass()
        except Exception:  # one failed pass must not stop the clock; the next one retries
            self.passes_failed += 1
            log.exception("%s pass failed", self.name, extra={"clock": self.name})
        finally:
            self._current = None
