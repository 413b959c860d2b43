"""`certdesk reminders run-once` through the real command line, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from bot.outbox import LocalOutbox
from common.time import utcnow
from tests.scheduler.fake_slack import start_fake_slack
from tests.scheduler.support import add_certificates, certdesk, migrated_engine, reminder_rows
from tests.support.processes import Cli


@pytest.fixture
def env(cli_env: dict[str, str], database_url: str) -> dict[str, str]:
    """The CLI's environment on SQLite and on PostgreSQL."""
    return {**cli_env, "CERTDESK_DATABASE_URL": database_url}


@pytest.fixture
def embedded_url(data_dir: Path) -> str:
    """The embedded SQLite database that the ``cli`` fixture's certdesk uses."""
    return f"sqlite+aiosqlite:///{data_dir / 'certdesk.db'}"


def iso_z(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def test_reminders_run_once_json_sends_due_reminders_once(
    env: dict[str, str], database_url: str
) -> None:
    async with migrated_engine(database_url) as engine:
        due = await add_certificates(engine, 2, expires_in=timedelta(days=5))
        await add_certificates(engine, expires_in=timedelta(days=45))

        first = await certdesk(env, "reminders", "run-once", "--json")
        assert first.returncode == 0, first.stderr
        report = json.loads(first.stdout)
        assert (report["due"], report["sent"], report["dry_run"]) == (2, 2, False)
        assert {r["serial"] for r in report["reminders"]} == {c.serial for c in due}
        assert {(r["threshold_days"], r["kind"], r["result"]) for r in report["reminders"]} == {
            (7, "expiring", "sent")
        }
        outbox = await LocalOutbox(engine=engine).recent(recipient="U0001")
        assert {n.certificate_serial for n in outbox} == {c.serial for c in due}

        second = await certdesk(env, "reminders", "run-once", "--json")
        assert json.loads(second.stdout)["due"] == 0


async def test_reminders_run_once_as_of_decides_as_if_at_that_time(
    env: dict[str, str], database_url: str
) -> None:
    now = utcnow()
    async with migrated_engine(database_url) as engine:
        [soon] = await add_certificates(engine, expires_in=timedelta(days=5), now=now)
        [later] = await add_certificates(engine, expires_in=timedelta(days=20), now=now)
        result = await certdesk(
            env, "reminders", "run-once", "--json", "--as-of", iso_z(now + timedelta(days=15))
        )
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
        got = {r["serial"]: (r["threshold_days"], r["kind"]) for r in report["reminders"]}
        assert got == {soon.serial: (0, "expired"), later.serial: (7, "expiring")}
        assert report["as_of"].startswith(iso_z(now + timedelta(days=15))[:19])


async def test_reminders_run_once_dry_run_claims_nothing(
    env: dict[str, str], database_url: str
) -> None:
    async with migrated_engine(database_url) as engine:
        await add_certificates(engine, 3, expires_in=timedelta(days=1))
        dry = await certdesk(env, "reminders", "run-once", "--dry-run", "--json")
        assert dry.returncode == 0, dry.stderr
        report = json.loads(dry.stdout)
        assert (report["due"], report["sent"]) == (3, 0)
        assert {r["result"] for r in report["reminders"]} == {"due"}
        assert await reminder_rows(engine) == []
        assert await LocalOutbox(engine=engine).recent() == []


async def test_reminders_run_once_fails_with_exit_1_when_delivery_fails(
    cli_env: dict[str, str],
    embedded_url: str,
    aiohttp_server: Callable[..., Coroutine[Any, Any, TestServer]],
) -> None:
    fake = await start_fake_slack(aiohttp_server)
    fake.errors["U0001"] = "user_not_found"
    slack_env = {
        **cli_env,
        "SLACK_BOT_TOKEN": "xoxb-cli",
        "SLACK_SIGNING_SECRET": "s",
        "SLACK_API_URL": fake.api_url,
    }
    async with migrated_engine(embedded_url) as engine:
        await add_certificates(engine, expires_in=timedelta(days=5))
        await add_certificates(engine, expires_in=timedelta(days=5), owner_slack_user="U0002")
        result = await certdesk(slack_env, "reminders", "run-once", "--json")
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert (report["sent"], report["undeliverable"]) == (1, 1)
    [failed] = [r for r in report["reminders"] if r["result"] == "undeliverable"]
    assert "user_not_found" in failed["error"]
    assert len(fake.texts_to("U0002")) == 1


async def test_reminders_run_once_text_output_names_certificate_and_result(
    cli_env: dict[str, str], embedded_url: str
) -> None:
    async with migrated_engine(embedded_url) as engine:
        [cert] = await add_certificates(engine, expires_in=timedelta(days=13))
    result = await certdesk(cli_env, "reminders", "run-once")
    assert result.returncode == 0, result.stderr
    assert "1 reminder(s) due." in result.stdout
    [line] = [line for line in result.stdout.splitlines() if cert.serial in line]
    assert "sent" in line
    assert "14-day reminder" in line
    assert cert.subject_cn in line
    assert "Sent 1, failed 0" in result.stdout


@pytest.mark.parametrize("as_of", ["2026-12-01T09:00:00", "2026-12-01"])
def test_reminders_run_once_refuses_naive_as_of_asking_for_an_offset(cli: Cli, as_of: str) -> None:
    result = cli("reminders", "run-once", "--as-of", as_of)
    assert result.returncode == 2
    assert "has no UTC offset" in result.stderr
    assert "Z" in result.stderr
    assert "Traceback" not in result.stderr


def test_reminders_run_once_refuses_garbage_as_of(cli: Cli) -> None:
    result = cli("reminders", "run-once", "--as-of", "next tuesday")
    assert result.returncode == 2
    assert "is not an ISO 8601 date and time" in result.stderr


def test_reminders_run_once_accepts_an_offset_other_than_utc(cli: Cli) -> None:
    result = cli("reminders", "run-once", "--json", "--as-of", "2026-12-01T17:00:00+08:00")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["as_of"] == "2026-12-01T09:00:00+00:00"


def test_reminders_run_once_help_documents_the_json_shape_and_exit_status(cli: Cli) -> None:
    result = cli("reminders", "run-once", "--help")
    assert result.returncode == 0
    for words in ("--as-of DATETIME", "--dry-run", '"claimed_elsewhere"', "Exit status"):
        assert words in result.stdout
