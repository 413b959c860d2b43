"""A reminder pass against a Slack that answers 429 past a per-window limit (the fake's
``rate_limit``): slack-sdk waits out each Retry-After and every reminder is sent exactly once."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.notify import SlackNotifier, slack_web_client
from bot.settings import Settings
from scheduler.run import ReminderRunner, Result, RunConfig
from tests.scheduler.support import add_certificates
from tests.support.fake_slack import BOT_TOKEN, FakeSlack


async def test_pass_past_the_rate_limit_sends_each_reminder_once(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    owners = [f"U0RATE{number:03d}" for number in range(6)]
    for owner in owners:
        await add_certificates(engine, expires_in=timedelta(days=6), owner_slack_user=owner)
    with FakeSlack().running() as fake:
        fake.rate_limit("chat.postMessage", 4, window=1.0)
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            data_dir=tmp_path,
            slack_bot_token=SecretStr(BOT_TOKEN),
            slack_signing_secret=SecretStr("secret"),
            slack_api_url=fake.api_url,
        )
        runner = ReminderRunner(
            engine=engine,
            notifier=SlackNotifier(client=slack_web_client(settings)),
            config=RunConfig(concurrency=6),
        )
        report = await runner.run_pass()
        sent = Counter(call.params["channel"] for call in fake.calls("chat.postMessage"))
        refused = fake.calls("chat.postMessage", ok=False)
    assert report.count(Result.SENT) == 6, report.as_dict()
    assert sent == Counter(owners)  # each owner exactly once
    assert refused, "the limit answered no 429: the test did not exercise it"
    assert {call.status for call in refused} == {429}
