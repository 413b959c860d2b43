"""`certdesk serve`'s start-up ends with its heap settled: what start-up made is out of the
garbage collector's full passes, what requests make afterwards is collected as usual."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from bot.app import RUNTIME
from bot.commands.serve import serving_app
from bot.settings import Settings


def tracked(target: object) -> bool:
    """Whether the collector's generations hold ``target`` (frozen objects are left out)."""
    return any(candidate is target for candidate in gc.get_objects())


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    try:
        yield
    finally:
        gc.unfreeze()  # the test process's heap stays collectable for the tests after this


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_serve_start_freezes_what_start_up_made(
    settings: Settings, aiohttp_client: Callable[..., Any], unfrozen: None
) -> None:
    """Before this change serve left start-up's objects in generation 2, walked by every full
    pass during a burst."""
    assert gc.get_freeze_count() == 0
    app = serving_app(settings, None)
    client = await aiohttp_client(app)
    runtime = app[RUNTIME]  # made in a cleanup context, during start-up
    assert gc.get_freeze_count() > 10_000
    assert not tracked(runtime)
    assert not tracked(runtime.services)

    response = await client.get("/healthz")
    assert response.status == 200
    made_later = [object()]  # a container made after start-up is tracked as usual
    assert tracked(made_later)
