"""Work after the acknowledgement: tracked, logged when it fails, drained at shutdown."""

from __future__ import annotations

import asyncio
import logging

import pytest

from bot.slack.background import BackgroundTasks


async def test_idle_waits_for_work_spawned_by_work() -> None:
    tasks = BackgroundTasks()
    done: list[str] = []

    async def second() -> None:
        await asyncio.sleep(0.01)
        done.append("second")

    async def first() -> None:
        await asyncio.sleep(0.01)
        tasks.spawn(second(), name="second")
        done.append("first")

    tasks.spawn(first(), name="first")
    await tasks.idle()
    assert done == ["first", "second"]
    assert tasks.pending == 0


async def test_failure_is_logged_with_the_task_name(caplog: pytest.LogCaptureFixture) -> None:
    tasks = BackgroundTasks()

    async def broken() -> None:
        raise RuntimeError("boom")

    tasks.spawn(broken(), name="broken-work")
    await tasks.idle()
    await asyncio.sleep(0)
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert record.task == "broken-work"  # type: ignore[attr-defined]
    assert "boom" in caplog.text


async def test_close_cancels_work_that_outlives_the_grace_period() -> None:
    tasks = BackgroundTasks()
    cancelled = asyncio.Event()

    async def forever() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    tasks.spawn(forever(), name="forever")
    await asyncio.sleep(0)
    await tasks.close(grace=0.05)
    assert cancelled.is_set()
    assert tasks.pending == 0


async def test_no_new_work_after_close(caplog: pytest.LogCaptureFixture) -> None:
    tasks = BackgroundTasks()
    await tasks.close()
    ran: list[int] = []

    async def work() -> None:
        ran.append(1)

    tasks.spawn(work(), name="late")
    await asyncio.sleep(0.01)
    assert ran == []
    assert "refused during shutdown" in caplog.text
