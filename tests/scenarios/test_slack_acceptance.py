"""Acceptance of the Slack bot (issue 5): the real `certdesk serve` against a fake Slack Web API,
driven with signed requests the way Slack sends them."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support.fake_slack import (
    BOT_TOKEN,
    SIGNING_SECRET,
    Call,
    FakeSlack,
    SlackSender,
    dm,
)
from tests.support.pki import make_csr
from tests.support.postgres import PostgresServer
from tests.support.processes import Cli, LiveServer, base_env, live_server

STAFF = "U1"
USERS = ("U1", "U2", "U3", "U5", "U6", "U7", "U8")
RA_CHANNEL = "CRA"
CODE = re.compile(r"`([2-9A-Z]{4}(?:-[2-9A-Z]{4}){3})`")
REFERENCE = re.compile(r"\*Reference number:\* `(\d{10})`")


def slack_env(
    data_dir: Path, fake: FakeSlack, extra: dict[str, str] | None = None
) -> dict[str, str]:
    return base_env(
        data_dir,
        {
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": fake.api_url,
            "CERTDESK_RA_STAFF": STAFF,
            "CERTDESK_RA_CHANNEL": RA_CHANNEL,
            **(extra or {}),
        },
    )


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeSlack]:
    slack = FakeSlack()
    for user in USERS:
        slack.add_user(user)
    with slack.running():
        yield slack


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, fake: FakeSlack) -> Iterator[LiveServer]:
    """One `certdesk serve` with Slack on for the module (each test uses its own users)."""
    data_dir = tmp_path_factory.mktemp("slack-server")
    with live_server(slack_env(data_dir, fake)) as running:
        yield running


@pytest.fixture
def slack(server: LiveServer, fake: FakeSlack) -> SlackSender:
    fake.reset()
    return SlackSender(server.url, fake)


def links(server: LiveServer, text: str) -> list[str]:
    return re.findall(rf"{re.escape(server.url)}/enroll/[A-Za-z0-9_\-]+", text)


async def post_csr(link: str, reference: str, code: str, tmp_path: Path) -> dict[str, Any]:
    base, token = link.rsplit("/enroll/", 1)
    _, csr = make_csr(tmp_path)
    payload = {"reference_number": reference, "authorization_code": code, "csr": csr}
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{base}/api/v1/enroll/{token}", json=payload) as response,
    ):
        assert response.status == 201, await response.text()
        data: dict[str, Any] = await response.json()
        return data


async def issue(slack: SlackSender, user: str, cn: str = "Test Holder 02") -> Call:
    """`/ra issue` by the staff member; returns the DM the holder got."""
    status, _ = await slack.command(
        "/ra", f'issue <@{user}|holder> cn="{cn}" ou="Branch 7" o="Acme Bank"', user=STAFF
    )
    assert status == 200
    [message] = await slack.fake.wait_for(
        "chat.postMessage", where=lambda c: c.params.get("channel") == f"D{user}"
    )
    return message


def credentials(message: Call) -> tuple[str, str]:
    reference, code = REFERENCE.search(message.text), CODE.search(message.text)
    assert reference is not None, message.text
    assert code is not None, message.text
    return reference.group(1), code.group(1)


# -- 1 ------------------------------------------------------------------------------------------


async def test_url_verification_answered_bad_signature_and_old_timestamp_refused(
    slack: SlackSender,
) -> None:
    body = json.dumps(
        {"token": "t", "challenge": "3eZbrw1aBm2rZgRNFdxV", "type": "url_verification"}
    )
    status, text = await slack.post(body, content_type="application/json")
    assert (status, json.loads(text)) == (200, {"challenge": "3eZbrw1aBm2rZgRNFdxV"})
    status, _ = await slack.post(body, content_type="application/json", secret="not-the-secret")
    assert status == 401
    stale = int(time.time()) - 301
    status, _ = await slack.post(body, content_type="application/json", timestamp=stale)
    assert status == 401


# -- 2 ------------------------------------------------------------------------------------------


async def test_dm_question_answered_once_despite_slack_retries(slack: SlackSender) -> None:
    event = dm("U3", "how do I find the CN of my certificate")
    first = await slack.event(event, event_id="Ev0ACCEPT2")
    retries = await asyncio.gather(
        slack.event(event, event_id="Ev0ACCEPT2", retry=1),
        slack.event(event, event_id="Ev0ACCEPT2", retry=2),
    )
    assert [s for s, _ in (first, *retries)] == [200, 200, 200]
    [answer] = await slack.fake.wait_for(
        "chat.postMessage", where=lambda c: c.params.get("channel") == "DU3"
    )
    assert "CN" in answer.text
    assert "OU" in answer.text
    await slack.fake.settle()
    assert len(slack.fake.messages_to("DU3")) == 1


# -- 3 ------------------------------------------------------------------------------------------


async def test_ra_issue_by_staff_dms_holder_a_link_and_refuses_others(
    slack: SlackSender, server: LiveServer
) -> None:
    command = 'issue @U2 cn="Test Holder 02" ou="Branch 7" o="Acme Bank"'
    status, _ = await slack.command("/ra", command, user=STAFF)
    assert status == 200
    [message] = await slack.fake.wait_for(
        "chat.postMessage", where=lambda c: c.params.get("channel") == "DU2"
    )
    [link] = links(server, message.text)
    assert link.startswith(f"{server.url}/enroll/")
    credentials(message)
    [confirmation] = await slack.fake.wait_for("response_url")
    assert "created for <@U2>" in confirmation.text

    slack.fake.reset()
    status, _ = await slack.command("/ra", command, user="U3")
    assert status == 200
    [refusal] = await slack.fake.wait_for("response_url")
    assert refusal.params["response_type"] == "ephemeral"
    assert "Only RA staff" in refusal.text
    await slack.fake.settle()
    assert slack.fake.calls("chat.postMessage") == []


# -- 4 ------------------------------------------------------------------------------------------


async def test_download_button_gives_a_working_link_to_the_holder_only(
    slack: SlackSender, server: LiveServer, tmp_path: Path
) -> None:
    issued = await issue(slack, "U5")
    reference, code = credentials(issued)
    await slack.event(dm("U5", "hi"))
    [menu] = await slack.fake.wait_for(
        "chat.postMessage", where=lambda c: c.params.get("channel") == "DU5" and "Hi!" in c.text
    )
    download = menu.button("download")

    await slack.click(download, user="U6", channel="DU5")
    [other] = await slack.fake.wait_for(
        "chat.postMessage", where=lambda c: c.params.get("channel") == "DU6"
    )
    assert links(server, other.text) == []

    await slack.click(download, user="U5", channel="DU5")
    [fresh] = await slack.fake.wait_for(
        "chat.postMessage",
        where=lambda c: c.params.get("channel") == "DU5" and "new one-time download link" in c.text,
    )
    [link] = set(links(server, fresh.text))  # shown for the browser and in the USB-key command
    assert link not in issued.text
    certificate = await post_csr(link, reference, code, tmp_path)
    assert certificate["serial"]
    await slack.fake.settle()
    assert all(links(server, c.text) == [] for c in slack.fake.messages_to("DU6"))


# -- 5 ------------------------------------------------------------------------------------------


async def test_shared_certificate_file_is_answered_with_cn_ous_and_o(
    slack: SlackSender, tmp_path: Path
) -> None:
    status, _ = await slack.command(
        "/ra",
        'issue <@U7> cn="Test Holder 07" ou="Branch 01" ou="RA Shanghai" o="Acme Bank"',
        user=STAFF,
    )
    assert status == 200
    [message] = await slack.fake.wait_for(
        "chat.postMessage", where=lambda c: c.params.get("channel") == "DU7"
    )
    reference, code = credentials(message)
    link = re.findall(r"http://\S+/enroll/[A-Za-z0-9_\-]+", message.text)[0]
    certificate = await post_csr(link, reference, code, tmp_path)
    file = slack.fake.add_file("F0ACCEPT5", "mine.cer", certificate["certificate"].encode())
    await slack.event(dm("U7", "", subtype="file_share", files=[file]))
    # Not the RA's message above: its random authorization code can contain "CN" too.
    [answer] = await slack.fake.wait_for(
        "chat.postMessage",
        where=lambda c: c.params.get("channel") == "DU7" and "CN" in c.text and c is not message,
    )
    assert "`Test Holder 07`" in answer.text
    assert answer.text.index("`Branch 01`") < answer.text.index("`RA Shanghai`")
    assert "`Acme Bank`" in answer.text


# -- 6 ------------------------------------------------------------------------------------------


async def test_app_home_lists_the_users_certificates(slack: SlackSender, tmp_path: Path) -> None:
    message = await issue(slack, "U8", cn="Home Holder")
    reference, code = credentials(message)
    link = re.findall(r"http://\S+/enroll/[A-Za-z0-9_\-]+", message.text)[0]
    certificate = await post_csr(link, reference, code, tmp_path)
    await slack.event({"type": "app_home_opened", "user": "U8", "channel": "DU8", "tab": "home"})
    [published] = await slack.fake.wait_for("views.publish")
    assert published.params["user_id"] == "U8"
    text = published.blocks_text()
    assert "*Home Holder* — active, expires" in text
    assert certificate["serial"] in text
    assert published.button("renew_certificate")["value"] == certificate["serial"]


# -- 7 ------------------------------------------------------------------------------------------


async def test_rate_limited_message_is_delivered_once_after_retry_after(slack: SlackSender) -> None:
    slack.fake.fail_next("chat.postMessage", status=429, retry_after=1)
    await slack.event(dm("U6", "hello"))
    [delivered] = await slack.fake.wait_for("chat.postMessage", within=15)
    [throttled] = slack.fake.calls("chat.postMessage", ok=False)
    assert throttled.status == 429
    assert delivered.at - throttled.at >= 1.0
    await slack.fake.settle()
    assert len(slack.fake.calls("chat.postMessage")) == 1


# -- across processes ------------------------------------------------------------------------


@pytest.mark.postgres
async def test_retries_reaching_two_processes_are_answered_once(
    postgres_server: PostgresServer, fake: FakeSlack, tmp_path: Path
) -> None:
    """Two `certdesk serve` on one PostgreSQL; a retry lands on the other process."""
    extra = {
        "CERTDESK_DATABASE_URL": postgres_server.create_database(),
        "CERTDESK_SECRET_KEY": "k" * 40,
    }
    env = slack_env(tmp_path, fake, extra)
    migrated = Cli(env)("db", "upgrade")
    assert migrated.returncode == 0, migrated.stderr
    fake.reset()
    with live_server(env) as one, live_server(env) as two:
        event = dm("U3", "how do I find the CN of my certificate")
        senders = [SlackSender(one.url, fake), SlackSender(two.url, fake)]
        results = await asyncio.gather(
            *(senders[n % 2].event(event, event_id="Ev0TWOPROC", retry=n or None) for n in range(4))
        )
        assert [s for s, _ in results] == [200, 200, 200, 200]
        await fake.wait_for("chat.postMessage")
        await fake.settle()
        assert len(fake.messages_to("DU3")) == 1
