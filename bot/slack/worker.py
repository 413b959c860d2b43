"""Acknowledging through the inbox, and handling what it holds.

:meth:`InboxWorker.accept_event` stores an event (claimed by this process) before its 200 and
then handles it in the background; :meth:`InboxWorker.accept_request` dispatches a command,
action or view to bolt at once (their listeners ``ack()`` within Slack's 3 seconds), and when a
listener left slow work (``desk.later``), stores the request before the acknowledgement leaves
and runs that work after it. Either way the row is marked done when its handling has finished.

:meth:`InboxWorker.run` is the loop that takes the rows nobody is handling -- left by a
process that died (lease expired) or released for a retry -- and handles them again: a request
is dispatched to bolt anew (its acknowledgement goes nowhere, its slow work runs). Messages
already posted for a row are skipped (:class:`.inbox.Delivery`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid

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
CONCURRENCY = 16  # rows handled at once by one process; the rest wait, their lease renewed


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
        self._slots = asyncio.Semaphore(CONCURRENCY)
        self._held = 0
        self._stopping = asyncio.Event()

    # -- the door ------------------------------------------------------------------------

    async def accept_event(self, request: AsyncBoltRequest) -> BoltResponse:
        body = request.body
        event_id = body.get("event_id")
        if not isinstance(event_id, str) or not event_id:
            event_id = f"event:{uuid.uuid4().hex}"
        try:
            row_id = await self.inbox.store(event_id, EVENT, body)
        except StorageUnavailable:
            return unavailable()  # not stored, so not acknowledged: Slack delivers it again
        if row_id is None:
            DUPLICATES.inc()
            retry = request.headers.get("x-slack-retry-num", ["0"])[0]
            log.info("duplicate Slack event dropped", extra={"event_id": event_id, "retry": retry})
        else:
            self._spawn(Stored(id=row_id, kind=EVENT, body=body, attempts=1), request)
        return BoltResponse(status=200, body="")

    async def accept_request(self, request: AsyncBoltRequest) -> BoltResponse:
        with deferring() as work:
            response = await self._bolt.async_dispatch(request)
        if not work:
            return response
        try:
            row_id = await self.inbox.store(f"request:{uuid.uuid4().hex}", REQUEST, request.body)
        except StorageUnavailable:
            log.warning("Slack request not stored; its work runs without a retry")
            for coroutine, name in work:
                self._tasks.spawn(coroutine, name=name)
            return response
        assert row_id is not None  # a fresh delivery ID
        item = Stored(id=row_id, kind=REQUEST, body=request.body, attempts=1)
        self._held += 1
        self._tasks.spawn(self._handle(item, work=work), name=f"slack-inbox-{row_id}")
        return response

    # -- handling ------------------------------------------------------------------------

    def _spawn(self, item: Stored, request: AsyncBoltRequest | None = None) -> None:
        self._held += 1
        self._tasks.spawn(self._handle(item, request=request), name=f"slack-inbox-{item.id}")

    async def _handle(
        self,
        item: Stored,
        *,
        request: AsyncBoltRequest | None = None,
        work: list[Work] | None = None,
    ) -> None:
        try:
            async with self._slots:
                await self._handle_now(item, request=request, work=work)
        finally:
            self._held -= 1

    async def _handle_now(
        self, item: Stored, *, request: AsyncBoltRequest | None, work: list[Work] | None
    ) -> None:
        CURRENT.set(Delivery(inbox=self.inbox, row_id=item.id, replies=list(item.replies)))
        try:
            if work is None:
                work = []
                request = request or AsyncBoltRequest(body=item.body, mode="socket_mode")
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
        """Take orphaned and retried rows, renew this process's leases, prune old rows."""
        last_renew = last_prune = time.monotonic()
        while not self._stopping.is_set():
            try:
                room = 2 * CONCURRENCY - self._held
                if room > 0:
                    for item in await self.inbox.claim(room):
                        log.info("Slack delivery taken again", extra={"row": item.id})
                        self._spawn(item)
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
