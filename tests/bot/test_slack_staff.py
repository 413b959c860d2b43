"""Who is RA staff, read from a Slack user group through the fake Web API."""

from __future__ import annotations

import asyncio

from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.staff import StaffDirectory
from tests.support.fake_slack import BOT_TOKEN, FakeSlack


async def test_staff_concurrent_lookups_read_the_group_once(fake_slack: FakeSlack) -> None:
    """Two first lookups at once share one usergroups.users.list call (it failed as 2 calls)."""
    fake_slack.usergroups["S0RASTAFF"] = ["U0STAFF"]
    client = AsyncWebClient(token=BOT_TOKEN, base_url=fake_slack.api_url)
    staff = StaffDirectory(["S0RASTAFF"])
    answers = await asyncio.gather(
        staff.is_staff(client, "U0STAFF"), staff.is_staff(client, "U0OTHER")
    )
    assert answers == [True, False]
    assert len(fake_slack.calls("usergroups.users.list")) == 1
