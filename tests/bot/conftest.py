"""Fixtures and small factories for the bot's tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bot.app import RUNTIME, create_app
from bot.runtime import Runtime
from bot.settings import Settings
from bot.slack.app import SLACK
from bot.slack.desk import Desk
from common.language import Lang
from enrollment.queries import CertificateView, EnrollmentView
from tests.conftest import PUBLIC_URL
from tests.support.fake_slack import BOT_TOKEN, SIGNING_SECRET, FakeSlack, SlackSender

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def enrollment(
    reference: str = "1234567890",
    *,
    user: str | None = "U2",
    status: str = "pending",
    locked: bool = False,
    cn: str = "Test Holder 02",
) -> EnrollmentView:
    return EnrollmentView(
        reference_number=reference,
        cn=cn,
        ous=("Branch 7",),
        o="Acme Bank",
        slack_user=user,
        status=status,
        locked=locked,
        failed_attempts=5 if locked else 0,
        created_at=NOW - timedelta(days=1),
    )


def certificate(
    serial: str = "abc123",
    *,
    user: str | None = "U2",
    status: str = "active",
    days: int = 30,
    cn: str = "Test Holder 02",
) -> CertificateView:
    return CertificateView(
        serial=serial,
        cn=cn,
        ous=("Branch 7",),
        o="Acme Bank",
        owner_slack_user=user,
        status=status,
        not_before=NOW - timedelta(days=300),
        not_after=NOW + timedelta(days=days),
        friendly_name=None,
    )


@dataclass(frozen=True)
class FakeSuggestion:
    id: str
    title: str


@dataclass(frozen=True)
class FakeAnswer:
    id: str | None
    score: float
    text: str
    action: str | None = None
    suggestions: Sequence[FakeSuggestion] = ()

    @property
    def best_id(self) -> str | None:
        return self.id or (self.suggestions[0].id if self.suggestions else None)


@dataclass(frozen=True)
class FakeEntry:
    id: str
    action: str | None
    titles: Mapping[str, str]
    answers: Mapping[str, str]

    def title(self, language: Lang) -> str:
        return self.titles[language]

    def answer(self, language: Lang) -> str:
        return self.answers[language]


@dataclass
class FakeKnowledge:
    """A knowledge base that knows one topic (finding CN/OU/O) and one "did you mean"."""

    asked: list[str] = field(default_factory=list)

    @property
    def entries(self) -> Mapping[str, FakeEntry]:
        return {
            "find-cn-ou-o": FakeEntry(
                id="find-cn-ou-o",
                action="inspect",
                titles={"en": "How to find CN, OU and O", "zh": "如何查看 CN、OU 和 O"},
                answers={"en": "Open the certificate's Subject.", "zh": "查看证书的使用者。"},
            ),
            "renewal": FakeEntry(
                id="renewal",
                action="renew",
                titles={"en": "How to renew", "zh": "如何更新"},
                answers={"en": "Press Renew.", "zh": "点击更新证书。"},
            ),
        }

    def ask(self, question: str, *, language: Lang | None = None) -> Any:
        self.asked.append(question)
        lang = language or "en"
        lowered = question.lower()
        if "cn" in lowered:
            entry = self.entries["find-cn-ou-o"]
            return FakeAnswer(entry.id, 0.9, entry.answer(lang), entry.action)
        if "renew" in lowered or "更新" in question:
            entry = self.entries["renewal"]
            return FakeAnswer(entry.id, 0.9, entry.answer(lang), entry.action)
        if "certificate" in lowered:
            return FakeAnswer(
                None,
                0.4,
                "Did you mean:",
                None,
                (FakeSuggestion("find-cn-ou-o", "How to find CN, OU and O"),),
            )
        return FakeAnswer(None, 0.1, "", "escalate")


# -- a running certdesk with Slack on, against the fake Slack Web API ----------------------

STAFF = "U1"
HOLDER = "U2"
OTHER = "U3"
CHINESE = "U4"
RA_CHANNEL = "CRA"


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    fake = FakeSlack()
    fake.add_user(STAFF)
    fake.add_user(HOLDER)
    fake.add_user(OTHER)
    fake.add_user(CHINESE, locale="zh-CN")
    fake.add_user("UOTHERBOT", is_bot=True)
    with fake.running():
        yield fake


@pytest.fixture
def slack_settings(tmp_path: Path, fake_slack: FakeSlack) -> Settings:
    """Slack on (HTTP mode), embedded SQLite, RA staff U1, RA channel CRA."""
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path / "data",
        database_url_=None,
        public_url=PUBLIC_URL,
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        slack_app_token=None,
        slack_api_url=fake_slack.api_url,
        ra_staff=(STAFF,),
        ra_channel=RA_CHANNEL,
    )


@dataclass
class SlackHarness:
    """The whole certdesk application, in process, served over real HTTP on 127.0.0.1."""

    app: web.Application
    url: str
    fake: FakeSlack
    send: SlackSender

    @property
    def desk(self) -> Desk:
        return self.app[SLACK].desk

    @property
    def runtime(self) -> Runtime:
        return self.app[RUNTIME]

    async def idle(self) -> None:
        """Wait until every piece of work after the acknowledgements is done."""
        async with asyncio.timeout(30):
            await self.desk.tasks.idle()


async def start_harness(
    settings: Settings, fake: FakeSlack, aiohttp_server: Callable[..., Any]
) -> SlackHarness:
    app = create_app(settings)
    server = await aiohttp_server(app)
    url = str(server.make_url("")).rstrip("/")
    harness = SlackHarness(app=app, url=url, fake=fake, send=SlackSender(url, fake))
    harness.desk.questions.knowledge = FakeKnowledge()
    return harness


@pytest.fixture
async def slack(
    slack_settings: Settings, fake_slack: FakeSlack, aiohttp_server: Callable[..., Any]
) -> SlackHarness:
    return await start_harness(slack_settings, fake_slack, aiohttp_server)
