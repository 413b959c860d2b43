"""``GET /link``: a new link mailed to the registered address only when the reference number
and address match, and the same answer either way; limited per reference and per client."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.app import RUNTIME
from bot.settings import Settings
from enrollment.services import EnrollmentCreate
from enrollment.services.ra import NewEnrollment
from enrollment.web.link_page import LINK_TASKS
from tests.support.smtp import SmtpServer, body_text

Client = TestClient[Any, Any]
HOLDER = "holder@example.com"


@pytest.fixture
def settings(settings_factory: Callable[..., Settings], smtp: SmtpServer) -> Settings:
    return settings_factory(smtp_url=smtp.url)


async def enrollment(client: Client, email: str | None = HOLDER) -> NewEnrollment:
    return await client.app[RUNTIME].services.ra.create_enrollment(
        EnrollmentCreate(cn="Test Holder 01", email=email), actor="test"
    )


async def ask(client: Client, reference: str, email: str, **headers: str) -> tuple[int, str]:
    response = await client.post(
        "/link", data={"reference_number": reference, "email": email}, headers=headers
    )
    body = await response.text()
    tasks = client.app[LINK_TASKS]
    if tasks:
        await asyncio.wait(set(tasks))
    return response.status, body


async def test_link_form_has_the_labels_and_button(client: Client) -> None:
    english = await (await client.get("/link")).text()
    for label in ("Reference number", "E-mail address", "Send me a new link"):
        assert label in english
    chinese = await (await client.get("/link?lang=zh")).text()
    for label in ("参考号", "电子邮箱地址", "给我发送新链接"):
        assert label in chinese


async def test_match_mails_a_new_link_to_the_registered_address(
    client: Client, smtp: SmtpServer
) -> None:
    created = await enrollment(client)
    status, _ = await ask(client, created.reference_number, " Holder@Example.com ")
    assert status == 200
    (mail,) = smtp.wait_for(1)
    assert mail["To"] == HOLDER
    text = body_text(mail)
    (link,) = set(re.findall(r"http://certdesk\.test/enroll/[A-Za-z0-9_-]+", text))
    assert link != created.link.url
    assert created.authorization_code not in text
    page = await client.get(link.removeprefix("http://certdesk.test"))
    assert page.status == 200


async def test_answer_is_the_same_whether_or_not_they_match(
    client: Client, smtp: SmtpServer
) -> None:
    created = await enrollment(client)
    matched = await ask(client, created.reference_number, HOLDER)
    typed_other = await ask(client, created.reference_number, "attacker@example.com")
    unknown = await ask(client, "9999999999", HOLDER)
    no_address = await ask(client, (await enrollment(client, None)).reference_number, HOLDER)
    assert matched == typed_other == unknown == no_address
    assert matched[0] == 200
    # ask() waited for the mailing: only the match was mailed, never to a typed address
    assert [m["To"] for m in smtp.messages] == [HOLDER]


async def test_limited_per_reference_number(client: Client, smtp: SmtpServer) -> None:
    created = await enrollment(client)
    answers = [
        (await ask(client, created.reference_number, HOLDER, **{"X-Test": str(i)}))[0]
        for i in range(4)
    ]
    assert answers == [200, 200, 200, 429]
    assert len(smtp.messages) == 3


async def test_limited_per_client(client: Client) -> None:
    answers = [(await ask(client, f"{i:010d}", HOLDER))[0] for i in range(11)]
    assert answers == [200] * 10 + [429]
    body = await (
        await client.post("/link", data={"reference_number": "1", "email": HOLDER})
    ).text()
    assert "Traceback" not in body
