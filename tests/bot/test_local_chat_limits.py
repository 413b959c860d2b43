"""What the anonymous local chat may make certdesk store: rate-limited per client, one row per
question, a cap on what waits for review (finding 6)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.app import RUNTIME, create_app
from bot.chat import CHAT
from bot.chat.limits import MESSAGES_PER_MINUTE, ClientLimiter
from bot.settings import Settings
from bot.unanswered import SqlUnansweredLog
from tests.bot.conftest import FakeKnowledge

Client = TestClient[Any, Any]


@pytest.fixture
async def chat(
    migrated: Settings,
    settings_factory: Callable[..., Settings],
    aiohttp_client: Callable[..., Any],
) -> Client:
    client: Client = await aiohttp_client(create_app(settings_factory()))
    client.app[CHAT].questions.knowledge = FakeKnowledge()
    return client


async def pending(chat: Client) -> list[str]:
    rows = await SqlUnansweredLog(chat.app[RUNTIME].engine).pending(limit=1000)
    return [row.question for row in rows]


async def test_a_flood_of_not_helpful_values_is_cut_off(chat: Client) -> None:
    """100 distinct 2000-character "not helpful" values from one client store at most a
    minute's allowance, each at most 1000 characters; the rest get a JSON 429."""
    statuses = []
    for number in range(100):
        value = f"{number:03d} " + "x" * 1996
        response = await chat.post("/chat/message", json={"action": "not_helpful", "value": value})
        statuses.append(response.status)
    assert statuses.count(200) == MESSAGES_PER_MINUTE
    assert set(statuses) == {200, 429}
    response = await chat.post("/chat/message", json={"text": "how to renew"})
    assert response.status == 429
    error = (await response.json())["error"]
    assert error["code"] == "rate_limited"
    assert "wait a minute" in error["message"]
    stored = await pending(chat)
    assert len(stored) == MESSAGES_PER_MINUTE
    assert max(map(len, stored)) <= 1000


async def test_the_same_question_is_stored_once(chat: Client) -> None:
    for value in (
        "Where is my   certificate?",
        "where is my certificate?",
        " WHERE IS MY CERTIFICATE? ",
    ):
        response = await chat.post("/chat/message", json={"action": "not_helpful", "value": value})
        assert response.status == 200
    assert await pending(chat) == ["Where is my certificate?"]


async def test_the_store_keeps_at_most_its_cap_waiting(chat: Client) -> None:
    store = SqlUnansweredLog(chat.app[RUNTIME].engine, max_pending=3)
    for number in range(6):
        await store.record(f"question {number}", lang="en", best_id=None, score=0.0, source="chat")
    assert await pending(chat) == ["question 0", "question 1", "question 2"]


def test_the_limiter_forgets_after_its_window() -> None:
    now = [0.0]
    limiter = ClientLimiter(limit=2, window=60, clock=lambda: now[0])
    assert [limiter.allow("a"), limiter.allow("a"), limiter.allow("a")] == [True, True, False]
    assert limiter.allow("b")
    now[0] = 60.0
    assert limiter.allow("a")


def test_the_limiter_remembers_a_bounded_number_of_clients() -> None:
    limiter = ClientLimiter(limit=1, window=60, max_clients=3, clock=lambda: 0.0)
    for client in ("a", "b", "c", "d"):
        assert limiter.allow(client)
    assert limiter.allow("a")  # forgotten as the least recently seen
    assert not limiter.allow("d")
