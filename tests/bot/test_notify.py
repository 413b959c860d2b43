"""Notifiers: the Slack DM against a local fake Web API, and the local outbox."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.notify import LocalNotifier, SlackNotifier, build_notifier, slack_web_client
from bot.outbox import LocalOutbox
from bot.settings import Settings
from enrollment.db import create_engine
from scheduler.errors import DeliveryError
from scheduler.policy import CertificateFacts, Reminder
from scheduler.run import RoutingNotifier
from tests.scheduler.fake_slack import FakeSlack, start_fake_slack
from tests.scheduler.support import migrated_engine
from tests.support.postgres import free_port

AS_OF = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
async def fake_slack(
    aiohttp_server: Callable[..., Coroutine[Any, Any, TestServer]],
) -> FakeSlack:
    return await start_fake_slack(aiohttp_server)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    async with migrated_engine(database_url) as engine:
        yield engine


def slack_settings(api_url: str, tmp_path: Path) -> Settings:
    return Settings(
        _env_file=None,
        data_dir=tmp_path,
        slack_bot_token=SecretStr("xoxb-test"),
        slack_signing_secret=SecretStr("secret"),
        slack_api_url=api_url,
    )


def reminder(
    *, owner: str | None = "U0AB12CD", expires_in: timedelta = timedelta(days=6, hours=20)
) -> Reminder:
    not_after = AS_OF + expires_in
    facts = CertificateFacts(
        certificate_id=7,
        serial="5a3f0c9e1b",
        subject_cn="Test Holder 01",
        not_before=not_after - timedelta(days=365),
        not_after=not_after,
        owner_slack_user=owner,
    )
    threshold = 0 if expires_in <= timedelta(0) else 7
    return Reminder(certificate=facts, threshold_days=threshold, as_of=AS_OF)


def notifier_for(fake: FakeSlack, tmp_path: Path) -> SlackNotifier:
    return SlackNotifier(client=slack_web_client(slack_settings(fake.api_url, tmp_path)))


async def test_slack_notifier_dms_the_owner_with_cn_serial_expiry_and_next_step(
    fake_slack: FakeSlack, tmp_path: Path
) -> None:
    await notifier_for(fake_slack, tmp_path).notify(reminder())
    [message] = fake_slack.messages
    assert message.method == "chat.postMessage"
    assert message.token == "xoxb-test"
    assert message.params["channel"] == "U0AB12CD"
    text = message.params["text"]
    assert "Test Holder 01" in text
    assert "5a3f0c9e1b" in text
    assert "2027-03-08 05:00 UTC" in text
    assert "in 7 days" in text
    assert "/cert renew" in text
    assert "Renew" in text
    assert "还剩 7 天" in text


async def test_slack_notifier_expired_notice_says_expired(
    fake_slack: FakeSlack, tmp_path: Path
) -> None:
    await notifier_for(fake_slack, tmp_path).notify(reminder(expires_in=-timedelta(hours=1)))
    [text] = fake_slack.texts_to("U0AB12CD")
    assert "expired on 2027-03-01 08:00 UTC" in text
    assert "已于 2027-03-01 08:00 UTC 过期" in text


async def test_slack_notifier_unknown_user_is_a_permanent_failure(
    fake_slack: FakeSlack, tmp_path: Path
) -> None:
    fake_slack.errors["U0AB12CD"] = "user_not_found"
    with pytest.raises(DeliveryError, match="user_not_found") as error:
        await notifier_for(fake_slack, tmp_path).notify(reminder())
    assert error.value.permanent


async def test_slack_notifier_bad_token_is_a_transient_failure(
    fake_slack: FakeSlack, tmp_path: Path
) -> None:
    """Once an operator fixes the token, the retries get through."""
    fake_slack.errors["U0AB12CD"] = "invalid_auth"
    with pytest.raises(DeliveryError, match="invalid_auth") as error:
        await notifier_for(fake_slack, tmp_path).notify(reminder())
    assert not error.value.permanent


async def test_slack_notifier_server_error_is_a_transient_failure(
    fake_slack: FakeSlack, tmp_path: Path
) -> None:
    fake_slack.server_error_next = 5
    with pytest.raises(DeliveryError) as error:
        await notifier_for(fake_slack, tmp_path).notify(reminder())
    assert not error.value.permanent
    assert fake_slack.messages == []


async def test_slack_notifier_waits_out_rate_limit_and_delivers_once(
    fake_slack: FakeSlack, tmp_path: Path
) -> None:
    fake_slack.rate_limit_next = 1
    await notifier_for(fake_slack, tmp_path).notify(reminder())
    assert len(fake_slack.calls) == 2
    assert len(fake_slack.messages) == 1


async def test_slack_notifier_unreachable_api_is_a_transient_failure(tmp_path: Path) -> None:
    settings = slack_settings(f"http://127.0.0.1:{free_port()}/api/", tmp_path)
    with pytest.raises(DeliveryError, match="could not be reached") as error:
        await SlackNotifier(client=slack_web_client(settings)).notify(reminder())
    assert not error.value.permanent


async def test_slack_notifier_certificate_without_slack_owner_is_permanent(
    fake_slack: FakeSlack, tmp_path: Path
) -> None:
    with pytest.raises(DeliveryError, match="no Slack owner") as error:
        await notifier_for(fake_slack, tmp_path).notify(reminder(owner=None))
    assert error.value.permanent
    assert fake_slack.calls == []


def test_slack_web_client_adds_the_trailing_slash(tmp_path: Path) -> None:
    client = slack_web_client(slack_settings("http://127.0.0.1:9/api", tmp_path))
    assert client.base_url == "http://127.0.0.1:9/api/"


async def test_local_notifier_logs_and_fills_the_outbox(
    engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    outbox = LocalOutbox(engine=engine)
    with caplog.at_level(logging.INFO, logger="bot.notify"):
        await LocalNotifier(outbox=outbox).notify(reminder())
    assert "certificate 5a3f0c9e1b (Test Holder 01) expires in 7 days" in caplog.text
    [row] = await outbox.recent(recipient="U0AB12CD")
    assert (row.certificate_serial, row.kind) == ("5a3f0c9e1b", "expiring")
    assert "/cert renew" in row.text
    assert await outbox.recent(recipient="U0OTHER") == []


async def test_build_notifier_follows_slack_configuration(tmp_path: Path) -> None:
    """Slack owners by Slack when it is on; owners with only an address by mail; else Slack
    (which refuses: no owner) or, with Slack off, the local outbox."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}")
    slack = build_notifier(slack_settings("http://127.0.0.1:9/api/", tmp_path), engine)
    local = build_notifier(
        Settings(_env_file=None, data_dir=tmp_path, slack_bot_token=None), engine
    )
    assert isinstance(slack, RoutingNotifier)
    assert isinstance(local, RoutingNotifier)
    by_slack, nobody = reminder(), reminder(owner=None)
    by_mail = replace(
        nobody, certificate=replace(nobody.certificate, owner_email="holder@example.com")
    )
    assert [slack.channel_for(r) for r in (by_slack, by_mail, nobody)] == [
        "slack",
        "email",
        "slack",
    ]
    assert [local.channel_for(r) for r in (by_slack, by_mail, nobody)] == [
        "local",
        "email",
        "local",
    ]
    await engine.dispose()
