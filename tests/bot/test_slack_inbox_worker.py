"""The inbox behind ``POST /slack/events``: what a process left stored is handled after a
restart, a request's slow work is stored before its ack, a failed handling is retried."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from aiohttp import web
from sqlalchemy import select, update

from bot.app import RUNTIME, create_app
from bot.settings import Settings
from bot.slack.app import SLACK
from bot.slack.inbox import EVENT, INBOX, Inbox
from enrollment.db import create_engine
from tests.bot.conftest import HOLDER, STAFF, FakeKnowledge
from tests.support.fake_slack import FakeSlack, SlackSender, dm, event_callback


async def start(
    settings: Settings, fake: FakeSlack, aiohttp_server: Callable[..., Any]
) -> tuple[Any, web.Application, SlackSender]:
    app = create_app(settings)
    server = await aiohttp_server(app)
    app[SLACK].desk.questions.knowledge = FakeKnowledge()
    return server, app, SlackSender(str(server.make_url("")).rstrip("/"), fake)


async def outcomes(app: web.Application) -> list[tuple[str, str | None]]:
    async with app[RUNTIME].engine.connect() as connection:
        result = await connection.execute(
            select(INBOX.c.delivery_id, INBOX.c.outcome).order_by(INBOX.c.id)
        )
        return [(row.delivery_id, row.outcome) for row in result]


async def until_finished(app: web.Application, count: int) -> list[tuple[str, str | None]]:
    async with asyncio.timeout(60):
        while True:
            found = await outcomes(app)
            if len(found) >= count and all(outcome is not None for _, outcome in found):
                return found
            await asyncio.sleep(0.1)


async def test_stored_event_is_handled_after_a_restart_exactly_once(
    slack_settings: Settings, fake_slack: FakeSlack, aiohttp_server: Callable[..., Any]
) -> None:
    """Two events stored by a process that stopped before handling them, one of which had
    already posted its reply: the next process answers the first once, and does not post the
    second again."""
    settings = slack_settings.model_copy(update={"slack_inbox_lease_seconds": 1.0})
    server, _, _ = await start(settings, fake_slack, aiohttp_server)
    await server.close()  # the schema is made; no worker runs now
    engine = create_engine(settings.database_url)
    try:
        dead = Inbox(engine=engine, owner="dead", lease=timedelta(seconds=1))
        cn = event_callback(dm(HOLDER, "how do I find the CN of my certificate"), event_id="EvA")
        renew = event_callback(dm(HOLDER, "how do I renew"), event_id="EvB")
        assert await dead.store("EvA", EVENT, cn) is not None
        renewed = await dead.store("EvB", EVENT, renew)
        assert renewed is not None
        await dead.record_replies(renewed, ["1700000000.000001"])
    finally:
        await engine.dispose()
    assert fake_slack.messages_to(f"D{HOLDER}") == []

    _, app, _ = await start(settings, fake_slack, aiohttp_server)
    assert await until_finished(app, 2) == [("EvA", "answered"), ("EvB", "answered")]
    await fake_slack.settle()
    [reply] = fake_slack.messages_to(f"D{HOLDER}")
    assert "Subject" in reply.blocks_text() + reply.text


async def test_failed_handling_is_retried_and_answered_once(
    slack_settings: Settings, fake_slack: FakeSlack, aiohttp_server: Callable[..., Any]
) -> None:
    """The first chat.postMessage fails: the event goes back to the inbox and is answered on
    its retry, once."""
    _, app, sender = await start(slack_settings, fake_slack, aiohttp_server)
    fake_slack.fail_next("chat.postMessage", status=500)
    status, _ = await sender.event(dm(HOLDER, "how do I find the CN"), event_id="EvFail")
    assert status == 200
    async with asyncio.timeout(30):
        while not (await outcomes(app)) or (await outcomes(app))[0][1] is None:
            async with app[RUNTIME].engine.begin() as connection:  # skip the backoff
                await connection.execute(update(INBOX).values(due_at=INBOX.c.received_at))
            await asyncio.sleep(0.2)
    assert await outcomes(app) == [("EvFail", "answered")]
    await fake_slack.settle()
    assert len(fake_slack.messages_to(f"D{HOLDER}")) == 1


async def test_ra_issue_is_stored_before_its_ack_and_finished_after_its_work(
    slack_settings: Settings, fake_slack: FakeSlack, aiohttp_server: Callable[..., Any]
) -> None:
    """``/ra issue`` leaves slow work: its request is in the inbox when the ack arrives, and
    done once the link has gone out."""
    _, app, sender = await start(slack_settings, fake_slack, aiohttp_server)
    status, _ = await sender.command(
        "/ra", f'issue <@{HOLDER}> cn="Inbox Holder" ou="Branch 1" o="Acme Bank"', user=STAFF
    )
    assert status == 200
    [(delivery_id, _)] = await outcomes(app)  # stored before the 200
    assert delivery_id.startswith("request:")
    await until_finished(app, 1)
    async with asyncio.timeout(30):
        await app[SLACK].desk.tasks.idle()
    assert await outcomes(app) == [(delivery_id, "answered")]
    await fake_slack.wait_for(
        "chat.postMessage", where=lambda c: c.params.get("channel") == f"D{HOLDER}"
    )


async def test_retry_header_and_event_id_duplicates_are_dropped_while_stored(
    slack_settings: Settings, fake_slack: FakeSlack, aiohttp_server: Callable[..., Any]
) -> None:
    _, app, sender = await start(slack_settings, fake_slack, aiohttp_server)
    event = dm(HOLDER, "how do I find the CN")
    statuses = [(await sender.event(event, event_id="EvDup"))[0]]
    statuses += [(await sender.event(event, event_id="EvDup", retry=n))[0] for n in (1, 2)]
    statuses += [(await sender.event(event, event_id="EvDup"))[0]]
    assert statuses == [200, 200, 200, 200]
    assert await until_finished(app, 1) == [("EvDup", "answered")]
    await fake_slack.settle()
    assert len(fake_slack.messages_to(f"D{HOLDER}")) == 1
