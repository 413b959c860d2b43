"""Work that runs after Slack has its acknowledgement.

Slack wants an answer within 3 seconds; creating an enrollment, fetching a file or calling the
Web API (which may wait out a 429) can take longer. Listeners acknowledge first and hand the
rest to :class:`BackgroundTasks`, which keeps a strong reference to every task, logs failures,
and lets shutdown (and tests) wait until the work is done.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger(__name__)


class BackgroundTasks:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    def spawn(self, work: Coroutine[Any, Any, None], *, name: str) -> None:
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
