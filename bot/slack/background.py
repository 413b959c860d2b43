"""Work that runs after Slack has its acknowledgement.

Slack wants an answer within 3 seconds; creating an enrollment, fetching a file or calling the
Web API (which may wait out a 429) can take longer. Listeners acknowledge first and hand the
rest to :class:`BackgroundTasks`, which keeps a strong reference to every task, logs failures,
and lets shutdown (and tests) wait until the work is done.

Inside :func:`deferring` (a bolt dispatch by the inbox), work handed over is collected instead
of started, so that the inbox stores the request before the work runs and can run it again
after a crash (:mod:`bot.slack.worker`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

log = logging.getLogger(__name__)

Work = tuple[Coroutine[Any, Any, None], str]
"""A coroutine handed over for after the acknowledgement, and its name."""

_DEFERRED: ContextVar[list[Work] | None] = ContextVar("slack_deferred_work", default=None)


@contextmanager
def deferring() -> Iterator[list[Work]]:
    """Collect the work spawned in this context (instead of starting it) into the list."""
    collected: list[Work] = []
    token = _DEFERRED.set(collected)
    try:
        yield collected
    finally:
        _DEFERRED.reset(token)


class BackgroundTasks:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    def spawn(self, work: Coroutine[Any, Any, None], *, name: str) -> None:
        deferred = _DEFERRED.get()
        if deferred is not None:
            deferred.append((work, name))
            return
        if self._closed:
            work.close()
            log.warning("background work refused during shutdown", extra={"task": name})
            return
        task = asyncio.get_running_loop().create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            log.error(
                "background task failed",
                exc_info=(type(error), error, error.__traceback__),
                extra={"task": task.get_name()},
            )

    @property
    def pending(self) -> int:
        return len(self._tasks)

    async def idle(self) -> None:
        """Wait until every task (including tasks spawned meanwhile) has finished; callers
        bound the wait with ``asyncio.timeout``."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def close(self, *, grace: float = 10.0) -> None:
        """Refuse new work, give running work ``grace`` seconds, then cancel the rest."""
        self._closed = True
        try:
            async with asyncio.timeout(grace):
                await self.idle()
        except TimeoutError:
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
