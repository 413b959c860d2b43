"""Wiring of the reminder room: from Settings to a policy, a runner and a clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from bot.datadir import prepare_data_dir, require_data
from bot.notify import build_notifier
from bot.runtime import prepare_schema
from bot.settings import Settings
from enrollment.db import create_engine
from scheduler.clock import ReminderClock
from scheduler.policy import ReminderPolicy
from scheduler.run import ReminderRunner, RunConfig


def reminder_policy(settings: Settings) -> ReminderPolicy:
    return ReminderPolicy(
        thresholds=settings.reminder_days,
        expired_notice_window=timedelta(days=settings.reminder_expired_notice_days),
    )


def run_config(settings: Settings) -> RunConfig:
    return RunConfig(policy=reminder_policy(settings))


@asynccontextmanager
async def open_reminders(settings: Settings) -> AsyncIterator[ReminderRunner]:
    """A runner on its own engine, for the CLI (``reminders run-once``, ``clock``); refuses
    (:class:`bot.datadir.DataDirMissing`) to create an embedded database."""
    require_data(settings, needs_ca=False)
    prepare_data_dir(settings.data_dir, database_url=settings.database_url)
    engine = create_engine(settings.database_url)
    try:
        await prepare_schema(settings, engine)
        yield ReminderRunner(
            engine=engine,
            notifier=build_notifier(settings, engine),
            config=run_config(settings),
        )
    finally:
        await engine.dispose()


def reminder_clock(settings: Settings, runner: ReminderRunner) -> ReminderClock:
    """A clock running ``runner``'s pass every ``CERTDESK_REMINDER_INTERVAL_MINUTES``."""
    return ReminderClock(
        run_pass=runner.run_pass,
        interval=timedelta(minutes=settings.reminder_interval_minutes),
    )
