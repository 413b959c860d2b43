"""Handling yields to acknowledging: while acknowledgements crowd the door, the inbox worker
handles one stored row at a time; once the door is quiet, up to CONCURRENCY at once. Every
stored row is handled once either way. And what the ack path refuses stores nothing."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from datetime import timedelta

from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from sqlalchemy import func, select

from bot.runtime import Runtime
from bot.slack.background import BackgroundTasks
from bot.slack.inbox import INBOX, Inbox
from bot.slack.worker import CONCURRENCY, CROWDED, InboxWorker
from tests.bot.conftest import HOLDER, SlackHarness
from tests.support.fake_slack import BOT_USER, TEAM, dm, event_callback


class Listener:
    """A mention listener that holds each handling until released, counting how many run."""

    def __init__(self) -> None:
        self.running = 0
        self.started = 0
        self.most = 0
        self.handled: list[str] = []
        self.release = asyncio.Event()

    async def handle(self, event: dict[str, str]) -> None:
        self.started += 1
        self.running += 1
        self.most = max(self.most, self.running)
        try:
            await self.release.wait()
        finally:
            self.running -= 1
        self.handled.append(event["ts"])


def bolt_app(listener: Listener) -> AsyncApp:
    async def authorize(**_: object) -> AuthorizeResult:
        return AuthorizeResult(
            enterprise_id=None,
            team_id=TEAM,
            bot_token="xoxb-test",  # never sent: the listener calls nothing
            bot_user_id=BOT_USER,
        )

    bolt = AsyncApp(
        signing_secret="",
        request_verification_enabled=False,
        authorize=authorize,
        process_before_response=True,  # as certdesk's: the handling ends with the listener
    )

    @bolt.event("app_mention")
    async def on_mention(event: dict[str, str]) -> None:
        await listener.handle(event)

    return bolt


def mention(index: int) -> dict[str, object]:
    event = {"type": "app_mention", "user": HOLDER, "text": "hi", "channel": "C1"}
    return event_callback({**event, "ts": f"1700000000.{index:06d}"}, event_id=f"EvPace{index}")


async def until(condition: Callable[[], bool], within: float = 20.0) -> None:
    async with asyncio.timeout(within):
        while True:
            if condition():
                return
            await asyncio.sleep(0.01)


async def test_handling_takes_one_row_at_a_time_while_acknowledgements_crowd(
    runtime: Runtime,
) -> None:
    listener = Listener()
    tasks = BackgroundTasks()
    worker = InboxWorker(
        bolt=bolt_app(listener),
        inbox=Inbox(engine=runtime.engine, owner="pacing", lease=timedelta(seconds=30)),
        tasks=tasks,
    )
    count = CONCURRENCY + 4
    taking = asyncio.get_running_loop().create_task(worker.run())
    with contextlib.ExitStack() as door:
        for _ in range(CROWDED):  # acknowledgements queueing at the door
            door.enter_context(worker.door.passing())
        for index in range(count):
            response = await worker.accept_event(mention(index))
            assert response.status == 200
        await until(lambda: listener.running == 1)
        await asyncio.sleep(0.3)  # longer than the quiet period: the door is still crowded
        assert listener.running == 1
        listener.release.set()
        await until(lambda: len(listener.handled) >= 3)
        assert listener.most == 1
        listener.release.clear()
        held = listener.started
        await until(lambda: listener.started > held)  # the one drainer is held in a row
    # The door is quiet: the rows still queued are handled side by side, even while the one
    # drainer is still held in its row.
    await until(lambda: listener.running > 1)
    listener.release.set()
    async with asyncio.timeout(30):
        await tasks.idle()
    worker.stop()
    await taking
    assert sorted(listener.handled) == sorted(f"1700000000.{i:06d}" for i in range(count))
    async with runtime.engine.connect() as connection:
        outcomes = (await connection.execute(select(INBOX.c.outcome))).scalars().all()
    assert outcomes == ["answered"] * count


async def test_event_refused_at_the_door_stores_nothing(slack: SlackHarness) -> None:
    """A forged event (401), and a signed one whose fields have the wrong types (400): neither
    is stored nor handled."""
    forged = json.dumps(event_callback(dm(HOLDER, "hi"), event_id="EvForged"))
    status, _ = await slack.send.post(forged, content_type="application/json", secret="wrong")
    assert status == 401
    bad = event_callback(dm(HOLDER, "hi"), event_id="EvBad")
    bad["event"]["user"] = ["U1"]
    status, text = await slack.send.post(json.dumps(bad), content_type="application/json")
    assert status == 400
    assert json.loads(text)["field"] == "event.user"
    await slack.idle()
    async with slack.runtime.engine.connect() as connection:
        assert (await connection.execute(select(func.count()).select_from(INBOX))).scalar() == 0
    assert slack.fake.messages_to(f"D{HOLDER}") == []


async def test_stopping_hands_back_the_rows_still_queued(runtime: Runtime) -> None:
    """A worker stopped with rows queued behind the one it is handling finishes that one and
    clears the lease of the others, so the next process takes them at once."""
    listener = Listener()
    tasks = BackgroundTasks()
    worker = InboxWorker(
        bolt=bolt_app(listener),
        inbox=Inbox(engine=runtime.engine, owner="stopping", lease=timedelta(seconds=30)),
        tasks=tasks,
    )
    taking = asyncio.get_running_loop().create_task(worker.run())
    with contextlib.ExitStack() as door:
        for _ in range(CROWDED):
            door.enter_context(worker.door.passing())
        for index in range(4):
            assert (await worker.accept_event(mention(index))).status == 200
        await until(lambda: listener.running == 1)
        worker.stop()
        await taking
    listener.release.set()
    async with asyncio.timeout(30):
        await tasks.idle()
    async with runtime.engine.connect() as connection:
        rows = (
            await connection.execute(
                select(INBOX.c.outcome, INBOX.c.lease_until).order_by(INBOX.c.id)
            )
        ).all()
    assert [outcome for outcome, _ in rows] == ["answered", None, None, None]
    assert [lease for _, lease in rows[1:]] == [None, None, None]
    assert (
        await Inbox(engine=runtime.engine, owner="next", lease=timedelta(seconds=30)).claim(10)
        != []
    )
