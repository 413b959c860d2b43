"""Browser scenarios: a real `certdesk serve`, headless Chromium, OpenSSL as the judge."""

from __future__ import annotations

import asyncio
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Request, sync_playwright

from bot.runtime import Runtime, open_runtime
from bot.settings import Settings
from tests.support import system
from tests.support.processes import LiveServer, base_env, live_server

T = TypeVar("T")

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@dataclass
class Desk:
    """The running server, and its store and enrollment use cases reachable from the test."""

    server: LiveServer
    data_dir: Path

    @property
    def url(self) -> str:
        return self.server.url

    def settings(self) -> Settings:
        return Settings(
            _env_file=None,  # type: ignore[call-arg]
            data_dir=self.data_dir,
            database_url_=None,
            public_url=self.url,
            slack_bot_token=None,
            slack_signing_secret=None,
            slack_app_token=None,
        )

    def call(self, work: Callable[[Runtime], Awaitable[T]]) -> T:
        """Run ``work`` against the server's store, on a loop of its own thread."""

        async def go() -> T:
            async with open_runtime(self.settings()) as runtime:
                return await work(runtime)

        with ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, go()).result()

    def ca_file(self, directory: Path) -> Path:
        path = directory / "ca.pem"
        with urllib.request.urlopen(f"{self.url}/ca.pem", timeout=10) as response:  # noqa: S310
            path.write_bytes(response.read())
        return path


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    data_dir = tmp_path_factory.mktemp("desk")
    with live_server(base_env(data_dir)) as server:
        yield Desk(server=server, data_dir=data_dir)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = system.chromium()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@dataclass
class Watched:
    """A page plus what it logged and what it sent to the API."""

    page: Page
    console_errors: list[str] = field(default_factory=list)
    api_requests: list[Request] = field(default_factory=list)
    all_requests: list[Request] = field(default_factory=list)

    def api_bodies(self) -> list[dict[str, Any]]:
        bodies = []
        for request in self.api_requests:
            body = request.post_data_json
            assert isinstance(body, dict)
            bodies.append(body)
        return bodies


@pytest.fixture
def watched(browser: Browser) -> Iterator[Watched]:
    context = browser.new_context(accept_downloads=True, locale="en-US")
    page = context.new_page()
    result = Watched(page=page)

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            result.console_errors.append(message.text)

    def on_request(request: Request) -> None:
        result.all_requests.append(request)
        if "/api/" in request.url:
            result.api_requests.append(request)

    page.on("console", on_console)
    page.on("pageerror", lambda error: result.console_errors.append(str(error)))
    page.on("request", on_request)
    yield result
    context.close()
