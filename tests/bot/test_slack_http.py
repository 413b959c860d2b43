"""POST /slack/events: signatures, url_verification, retries and acknowledgement time."""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
import time
from urllib.parse import urlsplit

import aiohttp

from tests.bot.conftest import HOLDER, SlackHarness
from tests.support.fake_slack import SIGNING_SECRET, dm, event_callback, signature
from tests.support.rawhttp import halves, post_in_parts


async def test_url_verification_answers_the_challenge(slack: SlackHarness) -> None:
    body = json.dumps({"token": "t", "challenge": "c-123", "type": "url_verification"})
    status, text = await slack.send.post(body, content_type="application/json")
    assert status == 200
    assert json.loads(text) == {"challenge": "c-123"}


async def test_bad_signature_is_refused(slack: SlackHarness) -> None:
    body = json.dumps({"token": "t", "challenge": "c-123", "type": "url_verification"})
    status, _ = await slack.send.post(body, content_type="application/json", secret="wrong")
    assert status == 401


async def test_stale_timestamp_is_refused(slack: SlackHarness) -> None:
    body = json.dumps({"token": "t", "challenge": "c-123", "type": "url_verification"})
    old = int(time.time()) - 5 * 60 - 5
    status, _ = await slack.send.post(body, content_type="application/json", timestamp=old)
    assert status == 401


async def test_missing_or_garbled_timestamp_is_refused(slack: SlackHarness) -> None:
    body = json.dumps({"type": "url_verification", "challenge": "c"})
    async with aiohttp.ClientSession() as session:
        for headers in ({}, {"X-Slack-Request-Timestamp": "soon", "X-Slack-Signature": "v0=00"}):
            async with session.post(
                f"{slack.url}/slack/events", data=body, headers=headers
            ) as response:
                assert response.status == 401


async def test_signed_event_is_acknowledged_and_unsigned_is_not_processed(
    slack: SlackHarness,
) -> None:
    body = json.dumps(event_callback(dm(HOLDER, "hi"), event_id="EvUnsigned"))
    status, _ = await slack.send.post(body, content_type="application/json", secret="nope")
    assert status == 401
    status, _ = await slack.send.event(dm(HOLDER, "hi"))
    assert status == 200
    await slack.idle()
    assert len(slack.fake.messages_to(f"D{HOLDER}")) == 1


async def test_retried_event_is_answered_once(slack: SlackHarness) -> None:
    event = dm(HOLDER, "how do I find the CN of my certificate")
    results = [await slack.send.event(event, event_id="EvRetry1")]
    results += await asyncio.gather(
        *(slack.send.event(event, event_id="EvRetry1", retry=n) for n in (1, 2, 3))
    )
    assert [status for status, _ in results] == [200, 200, 200, 200]
    await slack.idle()
    await slack.fake.settle()
    assert len(slack.fake.messages_to(f"D{HOLDER}")) == 1
    async with aiohttp.ClientSession() as session, session.get(f"{slack.url}/metrics") as r:
        metrics = await r.text()
    [dropped] = re.findall(r"^certdesk_slack_duplicate_events_total (\S+)$", metrics, re.M)
    assert float(dropped) >= 3


async def test_lazy_listener_headers_from_outside_are_ignored(slack: SlackHarness) -> None:
    """Bolt's internal x-slack-bolt-* headers cannot switch a request to "lazy only"."""
    body = json.dumps(event_callback(dm(HOLDER, "hello"), event_id="EvLazy"))
    status, _ = await slack.send.post(
        body,
        content_type="application/json",
        headers={"X-Slack-Bolt-Lazy-Only": "1", "X-Slack-Bolt-Lazy-Function-Name": "x"},
    )
    assert status == 200
    await slack.idle()
    assert len(slack.fake.messages_to(f"D{HOLDER}")) == 1


async def test_ack_comes_before_slow_work(slack: SlackHarness) -> None:
    """A DM whose answer waits on a slow Slack API is still acknowledged at once: the ack
    comes while chat.postMessage is held unanswered."""
    release = slack.fake.hold("chat.postMessage")
    try:
        status, _ = await asyncio.wait_for(slack.send.event(dm(HOLDER, "hello")), 30)
        assert status == 200
        assert slack.fake.messages_to(f"D{HOLDER}") == []  # the answer is still held
    finally:
        release.set()
    await slack.fake.wait_for("chat.postMessage", within=10)


async def test_event_ack_waits_until_the_event_is_stored(slack: SlackHarness) -> None:
    """While another writer holds SQLite's write lock, an event is not acknowledged (it is
    not stored yet); once the lock is released it is acknowledged and handled, once."""
    await slack.send.event(dm(HOLDER, "warm up"))
    await slack.idle()
    slack.fake.reset()
    path = slack.runtime.settings.database_url.removeprefix("sqlite+aiosqlite:///")
    blocker = sqlite3.connect(path, timeout=30, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        sending = asyncio.create_task(slack.send.event(dm(HOLDER, "hi")))
        done, _ = await asyncio.wait([sending], timeout=1.0)
        assert not done  # no 200 for an event that is not stored
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    status, _ = await asyncio.wait_for(sending, timeout=30)
    assert status == 200
    await slack.idle()
    assert len(slack.fake.messages_to(f"D{HOLDER}")) == 1


async def test_signed_event_split_over_the_network_is_acknowledged(slack: SlackHarness) -> None:
    """Finding 1: a signed event whose body arrives in two TCP writes 200 ms apart is read
    whole, its signature holds, and it is acknowledged with 200 and answered."""
    body = json.dumps(event_callback(dm(HOLDER, "hi"), event_id=slack.send.next_id("Ev")))
    ts = str(int(time.time()))
    url = urlsplit(slack.url)
    assert url.hostname is not None
    assert url.port is not None
    status, _ = await post_in_parts(
        url.hostname,
        url.port,
        "/slack/events",
        halves(body.encode()),
        headers={
            "Content-Type": "application/json",
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": signature(SIGNING_SECRET, ts, body),
        },
    )
    assert status == 200
    await slack.idle()
    assert len(slack.fake.messages_to(f"D{HOLDER}")) == 1


async def test_unsigned_truncated_json_is_refused_before_parsing(slack: SlackHarness) -> None:
    """Finding 4: a broken, unsigned body is a 401 (the signature is checked on the raw bytes
    before anything parses them), never a 500."""
    truncated = json.dumps(event_callback(dm(HOLDER, "hi"), event_id="EvCut"))[:40]
    async with aiohttp.ClientSession() as session:
        for headers in (
            {},
            {"X-Slack-Request-Timestamp": str(int(time.time())), "X-Slack-Signature": "v0=00"},
        ):
            async with session.post(
                f"{slack.url}/slack/events",
                data=truncated,
                headers={"Content-Type": "application/json", **headers},
            ) as response:
                assert response.status == 401


async def test_signed_but_unreadable_payloads_are_refused(slack: SlackHarness) -> None:
    """Finding 4: a correctly signed body that is not a payload (truncated, nested 30,000
    deep, a JSON list) is a 400, never a 500."""
    for body in ('{"type": "event_callback", "eve', "[" * 30_000 + "]" * 30_000, "[1, 2]"):
        status, text = await slack.send.post(body, content_type="application/json")
        assert (status, text) == (400, '{"error": "unreadable payload"}')
