"""`certdesk serve` runs the reminder clock in-process (aiohttp cleanup_ctx)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from bot.app import REMINDER_CLOCK, create_app
from bot.outbox import LocalOutbox
from bot.settings import Settings
from tests.scheduler.support import add_certificates, eventually, migrated_engine


async def test_serve_app_runs_the_reminder_clock_into_the_local_outbox(
    settings_factory: Callable[..., Settings], aiohttp_client: Callable[..., Any]
) -> None:
    settings = settings_factory()
    async with migrated_engine(settings.database_url) as engine:
        [cert] = await add_certificates(engine, expires_in=timedelta(days=10))
        client = await aiohttp_client(create_app(settings))
        assert client.server.app[REMINDER_CLOCK].running
        outbox = LocalOutbox(engine=engine)

        async def reminded() -> bool:
            return any(n.certificate_serial == cert.serial for n in await outbox.recent())

        await eventually(reminded)
        [notification] = await outbox.recent(recipient="U0001")
    assert "in 10 days" in notification.text


async def test_serve_app_without_reminders_starts_no_clock(
    settings_factory: Callable[..., Settings], aiohttp_client: Callable[..., Any]
) -> None:
    settings = settings_factory(serve_reminders=False)
    async with migrated_engine(settings.database_url):
        client = await aiohttp_client(create_app(settings))
    assert REMINDER_CLOCK not in client.server.app
    response = await client.get("/healthz")
    assert response.status == 200
