"""Acknowledging through the inbox, and handling what it holds.

:meth:`InboxWorker.accept_event` stores an event (claimed by this process) before its 200 and
queues it for handling; :meth:`InboxWorker.accept_request` dispatches a command,
action or view to bolt at once (their listeners ``ack()`` within Slack's 3 seconds), and when a
listener left slow work (``desk.later``), stores the request before the acknowledgement leaves
and runs that work after it. Either way the row is marked done when its handling has finished.

:meth:`InboxWorker.run` is the loop that takes the rows nobody is handling -- left by a
process that died (lease expired) or released for a retry -- and handles them again: a request
is dispatched to bolt anew (its acknowledgement goes nowhere, its slow work runs). Messages
already posted for a row are skipped (:class:`.inbox.Delivery`).

Handling yields to acknowledging: rows wait in an in-memory queue (stored and claimed, so a
crash loses none) and are handled by up to :data:`CONCURRENCY` drainers while the door is quiet,
by one drainer with a pause between rows while acknowledgements crowd in (:class:`Door`). A burst
is acknowledged at the door's pace and answered after it, at the handling's pace.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections import deque
from collections.abc import Iterator
from typing import Any

from prometheus_client import Counter
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from bot.slack.background import BackgroundTasks, Work, deferring
from bot.slack.inbox import CURRENT, EVENT, REQUEST, Delivery, Inbox, Stored
from enrollment.errors import StorageUnavailable

log = logging.getLogger(__name__)

DUPLICATES = Counter(
    "certdesk_slack_duplicate_events", "Slack event deliveries dropped as already stored"
)
HANDLED = Counter(
    "certdesk_slack_inbox_handled", "Slack inbox rows handled, by outcome", ["outcome"]
)
POLL_SECONDS = 1.0
PRUNE_EVERY_SECONDS = 3600.0
CONCURRENCY = 64  # rows handled at once by one process; the rest wait, their lease renewed
CROWDED = 8  # acknowledgements in flight at once: they are queueing, the loop is saturated
QUIET_SECONDS = 0.2  # how long after the door was last crowded handling goes full speed again
CROWDED_PAUSE_SECONDS = 0.05  # the one drainer's pause between rows while the door is crowded


class Door:
    """Acknowledgements in flight, and when they last crowded each other.

    :data:`CROWDED` requests at the door at once mean acknowledgements are queueing for the
    loop: handling then steps back (:class:`InboxWorker`) until the door has not been crowded
    for :data:`QUIET_SECONDS`. A steady trickle of events never crowds it."""

    def __init__(self) -> None:
        self.in_flight = 0
        self._crowded_at = float("-inf")

    @contextlib.contextmanager
    def passing(self) -> Iterator[None]:
        self.in_flight += 1
        if self.in_flight >= CROWDED:
            self._crowded_at = time.monotonic()
        try:
            yield
        finally:
            self.in_flight -= 1

    def quiet(self) -> bool:
        if self.in_flight >= CROWDED:
            return False
        return time.monotonic() - self._crowded_at > QUIET_SECONDS


def unavailable() -> BoltResponse:
    return BoltResponse(
        status=503,
        body='{"error": "storage unavailable"}',
        headers={"content-type": "application/json"},
    )


class InboxWorker:
    def __init__(self, *, bolt: AsyncApp, inbox: Inbox, tasks: BackgroundTasks) -> None:
        self._bolt = bolt
        self.inbox = inbox
        self._tasks = tasks
        self.door = Door()
        self._queue: deque[tuple[Stored, list[Work] | None]] = deque()
        self._drainers = 0
        self._handling = 0
        self._stopping = asyncio.Event()

    # -- the door ------------------------------------------------------------------------

    async def accept_event(
        self, body: dict[str, Any], *, raw: str | None = None, retry: str | None = None
    ) -> BoltResponse:
        """Store an event (``raw``: its JSON as received, when at hand) and queue it; 200 once
        stored, 503 when it could not be (Slack delivers it again)."""
        event_id = body.get("event_id")
        if not isinstance(event_id, str) or not event_id:
            event_id = f"event:{uuid.uuid4().hex}"
        raw = raw if raw is not None else json.dumps(body, separators=(",", ":"))
        try:
            row_id = await self.inbox.store(event_id, EVENT, body, raw=raw)
        except StorageUnavailable:
            return unavailable()  # not stored, so not acknowledged: Slack delivers it again
        if row_id is None:
            DUPLICATES.inc()
            log.info(
                "duplicate Slack event dropped", extra={"event_id": event_id, "retry": retry or "0"}
            )
        else:
            self._enqueue(Stored(id=row_id, kind=EVENT, raw=raw, attempts=1))
        return BoltResponse(status=200, body="")

    async def accept_request(self, request: AsyncBoltRequest) -> BoltResponse:
        with deferring() as work:
            response = await self._bolt.async_dispatch(request)
        if not work:
            return response
        try:
            raw = json.dumps(request.body, separators=(",", ":"))
            row_id = await self.inbox.store(
                f"request:{uuid.uuid4().hex}", REQUEST, request.body, raw=raw
            )
        except StorageUnavailable:
            log.warning("Slack request not stored; its work runs without a retry")
            for coroutine, name in work:
                self._tasks.spawn(coroutine, name=name)
            return response
        assert row_id is not None  # a fresh delivery ID
        self._enqueue(Stored(id=row_id, kind=REQUEST, raw=raw, attempts=1), work=work)
        return response

    # -- handling ------------------------------------------------------------------------

    @property
    def held(self) -> int:
        """Rows this process holds: queued or being handled."""
        return len(self._queue) + self._handling

    def _enqueue(self, item: Stored, work: list[Work] | None = None) -> None:
        self._queue.append((item, work))
        self._start_drainers()

    def _start_drainers(self) -> None:
        wanted = min(CONCURRENCY if self.door.quiet() else 1, len(self._queue))
        while self._drainers < wanted:
            self._drainers += 1
            self._tasks.spawn(self._drain(), name="slack-inbox-drainer")

    async def _drain(self) -> None:
        """Handle queued rows until none is left, or, while the door is crowded, until this is
        the last drainer; the last one keeps going, one row at a time with a pause. Once the
        door is quiet, more drainers start (here before each row, and from :meth:`run`)."""
        try:
            while self._queue and not self._stopping.is_set():
                if self.door.quiet():
                    self._start_drainers()
                item, work = self._queue.popleft()
                self._handling += 1
                try:
                    await self._handle_now(item, work=work)
                finally:
                    self._handling -= 1
                if self.door.quiet():
                    continue
                if self._drainers > 1:
                    return
                await asyncio.sleep(CROWDED_PAUSE_SECONDS)
        finally:
            self._drainers -= 1

    async def _handle_now(self, item: Stored, *, work: list[Work] | None) -> None:
        CURRENT.set(Delivery(inbox=self.inbox, row_id=item.id, replies=list(item.replies)))
        try:
            if work is None:
                work = []
                request = AsyncBoltRequest(body=item.body, mode="socket_mode")
                with deferring() as work:
                    response = await self._bolt.async_dispatch(request)
                if response.status >= 500:
                    raise RuntimeError(f"bolt answered {response.status}")
            await run_all(work)
        except Exception:
            log.warning("Slack delivery failed", exc_info=True, extra={"row": item.id})
            HANDLED.labels("retried").inc()
            await self.inbox.release(item)
            return
        except asyncio.CancelledError:
            for coroutine, _ in work or ():
                coroutine.close()
            raise
        HANDLED.labels("answered").inc()
        await self.inbox.finish(item.id)

    # -- the loop ------------------------------------------------------------------------

    async def run(self) -> None:
        """Take orphaned and retried rows, renew this process's leases, prune old rows; when
        stopped, hand back the rows still queued."""
        last_renew = last_prune = time.monotonic()
        while not self._stopping.is_set():
            # The door may have turned quiet while the one drainer was in a long row.
            self._start_drainers()
            try:
                room = 2 * CONCURRENCY - self.held
                if room > 0:
                    for item in await self.inbox.claim(room):
                        log.info("Slack delivery taken again", extra={"row": item.id})
                        self._enqueue(item)
                now = time.monotonic()
                if now - last_renew > self.inbox.lease.total_seconds() / 3:
                    last_renew = now
                    await self.inbox.renew()
                if now - last_prune > PRUNE_EVERY_SECONDS:
                    last_prune = now
                    await self.inbox.prune()
            except StorageUnavailable as exc:
                log.warning("Slack inbox unavailable", extra={"error": exc.code})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), POLL_SECONDS)
        await self._hand_back()

    async def _hand_back(self) -> None:
        """Stopping: the rows still queued go back to the inbox for the next process."""
        left, self._queue = list(self._queue), deque()
        for _, work in left:
            for coroutine, _ in work or ():
                coroutine.close()
        if left:
            try:
                await self.inbox.hand_back([item.id for item, _ in left])
            except StorageUnavailable:
                log.warning("Slack rows not handed back: taken again when their lease expires")

    def stop(self) -> None:
        """End :meth:`run` after its current step (a cancel could land inside a database
        call, whose driver may turn it into an error)."""
        self._stopping.set()


async def run_all(work: list[Work]) -> None:
    """Run the collected work one after the other, and the work it hands over in turn."""
    while work:
        with deferring() as more:
            for index, (coroutine, _) in enumerate(work):
                try:
                    await coroutine
                except BaseException:
                    for rest, _ in work[index + 1 :]:
                        rest.close()
                    raise
        work = more
