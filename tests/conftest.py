"""Shared fixtures: databases (SQLite and a real PostgreSQL), settings, runtime, CLI, server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.app import create_app
from bot.database import upgrade, upgrade_async
from bot.runtime import Runtime, open_runtime
from bot.settings import Settings
from enrollment.services import Services
from tests.support import system
from tests.support.postgres import PostgresServer
from tests.support.processes import Cli, LiveServer, base_env, live_server
from tests.support.smtp import SmtpServer, smtp_server

PUBLIC_URL = "http://certdesk.test"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = PostgresServer.start(system.postgres_bin_dir())
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres_migrated_template(postgres_server: PostgresServer) -> str:
    """A database at the newest schema, migrated once per session (see ``migrated``)."""
    url = postgres_server.create_database()
    upgrade(url)
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Every test using this runs once on SQLite and once on a real PostgreSQL."""
    if request.param == "sqlite":
        (tmp_path / "data").mkdir(exist_ok=True)
        yield f"sqlite+aiosqlite:///{tmp_path / 'data' / 'certdesk.db'}"
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    request.getfixturevalue("postgres_migrated_template")  # made here, outside any event loop
    url = server.create_database()
    yield url
    server.drop_database(url)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture
def settings_factory(data_dir: Path, database_url: str) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "data_dir": data_dir,
            "database_url_": database_url,
            "public_url": PUBLIC_URL,
            "slack_bot_token": None,
            "slack_signing_secret": None,
            "slack_app_token": None,
            "ra_staff": (),
        }
        values.update(overrides)
        return Settings(_env_file=None, **values)

    return make


@pytest.fixture
def settings(settings_factory: Callable[..., Settings]) -> Settings:
    return settings_factory()


@pytest.fixture
async def migrated(
    settings: Settings, database_url: str, request: pytest.FixtureRequest
) -> Settings:
    """The settings, their database at the newest schema. A database of the session's
    PostgreSQL server becomes a copy of one migrated at the start of the session (the same
    migrations, run once); any other is upgraded here."""
    if settings.is_embedded_sqlite:
        return settings
    if database_url.startswith("postgresql") and settings.database_url == database_url:
        server: PostgresServer = request.getfixturevalue("postgres_server")
        if f"@127.0.0.1:{server.port}/" in database_url:
            template = request.getfixturevalue("postgres_migrated_template")
            await asyncio.to_thread(server.replace_with_copy, database_url, template)
            return settings
    await upgrade_async(settings.database_url)
    return settings


@pytest.fixture
async def runtime(migrated: Settings) -> AsyncIterator[Runtime]:
    async with open_runtime(migrated) as rt:
        yield rt


@pytest.fixture
def services(runtime: Runtime) -> Services:
    return runtime.services


@pytest.fixture
async def client(migrated: Settings, aiohttp_client: Callable[..., Any]) -> TestClient[Any, Any]:
    """An in-process client of the whole aiohttp application."""
    result: TestClient[Any, Any] = await aiohttp_client(create_app(migrated))
    return result


@pytest.fixture
def cli_env(data_dir: Path) -> dict[str, str]:
    return base_env(data_dir, {"CERTDESK_PUBLIC_URL": PUBLIC_URL})


@pytest.fixture
def cli(cli_env: dict[str, str]) -> Cli:
    """Runs the real `certdesk` command line against this test's data directory, set up with
    `certdesk init` first (the other commands refuse to create a CA or database)."""
    runner = Cli(cli_env)
    result = runner("init")
    assert result.returncode == 0, result.stderr
    return runner


@pytest.fixture
def bare_cli(cli_env: dict[str, str]) -> Cli:
    """The real `certdesk` command line against this test's empty data directory."""
    return Cli(cli_env)


@pytest.fixture
def server(data_dir: Path) -> Iterator[LiveServer]:
    """The real `certdesk serve` on embedded defaults in this test's data directory."""
    with live_server(base_env(data_dir)) as running:
        yield running


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    """A real SMTP server (aiosmtpd) on a free local port."""
    with smtp_server() as server:
        yield server
