"""``certdesk clock``: the reminder clock alone (the Procfile's ``clock:`` process)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from bot.commands.shared import SubParsers, announce_data_dir, command

if TYPE_CHECKING:
    from bot.settings import Settings


def register(sub: SubParsers) -> None:
    command(sub, "clock", run)


def run(_args: argparse.Namespace, settings: Settings) -> int:
    """run the renewal reminder clock alone (the Procfile's clock: process)

    Run a reminder pass at start and then every CERTDESK_REMINDER_INTERVAL_MINUTES until SIGTERM or
    SIGINT. Any number of clocks (and `certdesk serve` processes) may share one database: each
    reminder is sent once.
    """
    import asyncio

    asyncio.run(run_clock(settings))
    return 0


async def run_clock(settings: Settings) -> None:
    import asyncio
    import logging
    import signal

    from bot.mail.wiring import mail_queue_clock
    from bot.reminders import open_reminders, reminder_clock

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with (
        open_reminders(settings) as runner,
        reminder_clock(settings, runner),
        mail_queue_clock(settings, runner.engine),
    ):
        announce_data_dir(settings.data_dir)
        logging.getLogger(__name__).info(
            "certdesk clock running",
            extra={
                "interval_minutes": settings.reminder_interval_minutes,
                "thresholds": list(settings.reminder_days),
                "notifier": runner.notifier.channel,
            },
        )
        await stop.wait()
