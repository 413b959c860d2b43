"""Real processes: two `certdesk reminders run-once` at once, and `certdesk clock`, against a
fake Slack Web API on 127.0.0.1, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import sys
from collections import Counter
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from scheduler.policy import Outcome
from tests.scheduler.fake_slack import FakeSlack, start_fake_slack
from tests.scheduler.support import add_certificates, certdesk, migrated_engine, reminder_rows

SERIAL = re.compile(r"serial `([0-9a-f]+)`")


@pytest.fixture
async def fake_slack(
    aiohttp_server: Callable[..., Coroutine[Any, Any, TestServer]],
) -> FakeSlack:
    return await start_fake_slack(aiohttp_server)


def slack_env(
    cli_env: dict[str, str], database_url: str, fake: FakeSlack, token: str
) -> dict[str, str]:
    return {
        **cli_env,
        "CERTDESK_DATABASE_URL": database_url,
        "SLACK_BOT_TOKEN": token,
        "SLACK_SIGNING_SECRET": "signing-secret",
        "SLACK_API_URL": fake.api_url,
    }


def delivered_serials(fake: FakeSlack) -> Counter[str]:
    found = Counter[str]()
    for message in fake.messages:
        match = SERIAL.search(str(message.params["text"]))
        assert match is not None
        found[match.group(1)] += 1
    return found


async def test_two_clock_processes_send_each_reminder_exactly_once(
    cli_env: dict[str, str], database_url: str, fake_slack: FakeSlack
) -> None:
    """The fake holds every message until both processes have one in flight, so the two
    passes provably overlap; still, every reminder reaches Slack once."""
    fake_slack.gate_tokens = 2
    async with migrated_engine(database_url) as engine:
        expiring = await add_certificates(engine, 30, expires_in=timedelta(days=5))
        expired = await add_certificates(engine, 10, expires_in=-timedelta(hours=3))
        results = await asyncio.gather(
            *(
                certdesk(
                    slack_env(cli_env, database_url, fake_slack, token),
                    "reminders",
                    "run-once",
                    "--json",
                )
                for token in ("xoxb-clock-a", "xoxb-clock-b")
            )
        )
        rows = await reminder_rows(engine)
    for result in results:
        assert result.returncode == 0, result.stderr
    reports = [json.loads(result.stdout) for result in results]
    assert all(report["sent"] > 0 for report in reports)
    assert sum(report["sent"] for report in reports) == 40
    assert delivered_serials(fake_slack) == Counter(c.serial for c in expiring + expired)
    assert {m.token for m in fake_slack.messages} == {"xoxb-clock-a", "xoxb-clock-b"}
    assert len(rows) == 40
    assert {(row.outcome, row.attempts, row.channel) for row in rows} == {
        (Outcome.SENT, 1, "slack")
    }


async def test_clock_process_sends_due_reminders_and_stops_on_sigterm(
    cli_env: dict[str, str], database_url: str, fake_slack: FakeSlack
) -> None:
    async with migrated_engine(database_url) as engine:
        certificates = await add_certificates(engine, 3, expires_in=timedelta(days=2))
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot.cli",
            "clock",
            env=slack_env(cli_env, database_url, fake_slack, "xoxb-clock"),
            cwd=cli_env["CERTDESK_DATA_DIR"],
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            async with asyncio.timeout(60):
                await fake_slack.wait_messages(3)
        finally:
            process.send_signal(signal.SIGTERM)
            async with asyncio.timeout(30):
                _, stderr = await process.communicate()
        rows = await reminder_rows(engine)
    assert process.returncode == 0, stderr.decode()
    log = stderr.decode()
    # Each clock names itself: the mail queue's is not a second reminder clock.
    assert log.count("reminder clock started") == 1
    assert log.count("mail queue clock started") == 1
    assert "reminder clock stopped" in log
    assert "mail queue clock stopped" in log
    assert "apscheduler" not in log  # its two INFO lines a tick are not an operator's
    assert delivered_serials(fake_slack) == Counter(c.serial for c in certificates)
    assert {(row.threshold_days, row.outcome) for row in rows} == {(7, Outcome.SENT)}
