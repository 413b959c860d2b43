"""The local chat page at / (Slack off): the same dialog in a browser, under a strict CSP."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from playwright.async_api import async_playwright

from bot.app import RUNTIME, create_app
from bot.chat import CHAT
from bot.outbox import LocalOutbox
from bot.settings import Settings
from tests.bot.conftest import FakeKnowledge, SlackHarness
from tests.support import system

Client = TestClient[Any, Any]


@pytest.fixture
def local_settings(slack_settings: Settings) -> Settings:
    """Slack off, embedded SQLite (the browser and the page do not depend on the database)."""
    return slack_settings.model_copy(
        update={"slack_bot_token": None, "slack_signing_secret": None, "slack_api_url": None}
    )


@pytest.fixture
async def chat(local_settings: Settings, aiohttp_client: Callable[..., Any]) -> Client:
    client: Client = await aiohttp_client(create_app(local_settings))
    client.app[CHAT].questions.knowledge = FakeKnowledge()
    return client


async def ask(client: Client, payload: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/chat/message", json=payload)
    assert response.status == 200, await response.text()
    data: dict[str, Any] = await response.json()
    return data


async def test_page_is_served_with_a_strict_csp(chat: Client) -> None:
    response = await chat.get("/")
    assert response.status == 200
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    html = await response.text()
    assert re.findall(r"<script[^>]*>", html) == ['<script src="/chat/static/chat.js" defer>']
    assert "style=" not in html


async def test_static_assets_only_known_names(chat: Client) -> None:
    script = await chat.get("/chat/static/chat.js")
    assert script.status == 200
    assert script.content_type == "application/javascript"
    assert "innerHTML" not in await script.text()
    assert (await chat.get("/chat/static/index.html")).status == 404
    assert (await chat.get("/chat/static/..%2F__init__.py")).status == 404


async def test_greeting_offers_only_what_the_page_can_do(chat: Client) -> None:
    """No download, renewal, "my certificates" or RA buttons (the page cannot know who asks):
    questions to ask, and no promise to read a shared certificate file."""
    for payload in ({"text": "hi"}, {"action": "help", "value": ""}):
        data = await ask(chat, payload)
        [reply] = data["replies"]
        assert [(b["action"], b["value"]) for b in reply["buttons"]] == [
            ("suggestion", "renewal"),
            ("suggestion", "find-cn-ou-o"),
        ]
        assert "share a certificate file" not in reply["text"]
        assert "link and codes your RA sent you" in reply["text"]


async def test_greeting_and_page_follow_the_browser_language(chat: Client) -> None:
    """Accept-Language picks the page's texts and the greeting's, even for the word "help"."""
    response = await chat.get("/", headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"})
    page = await response.text()
    assert '<html lang="zh-CN" data-lang="zh">' in page
    assert ">你的问题</label>" in page
    assert ">发送</button>" in page
    assert response.headers["Vary"] == "Accept-Language"
    english = await (await chat.get("/", headers={"Accept-Language": "en-GB"})).text()
    assert ">Your question</label>" in english
    assert ">你的问题<" in await (await chat.get("/?lang=zh")).text()
    response = await chat.post(
        "/chat/message",
        json={"action": "help", "value": ""},
        headers={"Accept-Language": "zh-CN"},
    )
    data = await response.json()
    assert data["lang"] == "zh"
    assert data["replies"][0]["text"].startswith("你好")
    assert [b["label"] for b in data["replies"][0]["buttons"]] == [
        "如何更新",
        "如何查看 CN、OU 和 O",
    ]


async def test_question_gets_the_same_answer_as_in_slack(chat: Client) -> None:
    data = await ask(chat, {"text": "how do I find the CN of my certificate"})
    [reply] = data["replies"]
    assert reply["text"].startswith("Open the certificate's Subject.")
    assert [b["action"] for b in reply["buttons"]] == ["helpful", "not_helpful"]


async def test_chinese_question_answered_in_chinese(chat: Client) -> None:
    data = await ask(chat, {"text": "怎么更新证书"})
    assert data["lang"] == "zh"
    assert data["replies"][0]["text"] == "点击更新证书。"


async def test_action_reply_language_follows_accept_language_quality(chat: Client) -> None:
    """Without a ``lang`` hint the best supported Accept-Language entry wins, not the first."""
    response = await chat.post(
        "/chat/message",
        json={"action": "help", "value": ""},
        headers={"Accept-Language": "fr-FR, zh;q=0.8, en;q=0.5"},
    )
    assert (await response.json())["lang"] == "zh"
    hinted = await ask(chat, {"action": "help", "value": "", "lang": "en"})
    assert hinted["lang"] == "en"


async def test_links_are_never_handed_out_anonymously(chat: Client) -> None:
    for action in ("download", "download_enrollment", "renew", "my_certificates"):
        data = await ask(chat, {"action": action, "value": "1234567890"})
        text = data["replies"][0]["text"]
        assert "doesn't know who you are" in text
        assert "/enroll/" not in text


async def test_suggestion_and_feedback(chat: Client) -> None:
    data = await ask(chat, {"action": "suggestion", "value": "renewal"})
    assert data["replies"][0]["text"] == "Press Renew."
    data = await ask(chat, {"action": "not_helpful", "value": "how to renew"})
    assert data["replies"][0]["buttons"][0]["action"] == "talk_to_ra"
    data = await ask(chat, {"action": "talk_to_ra", "value": "how to renew"})
    assert "contact your RA directly" in data["replies"][0]["text"]


async def test_reminders_sent_while_slack_is_off_are_listed(chat: Client) -> None:
    assert (await (await chat.get("/chat/reminders")).json()) == {"reminders": []}
    outbox = LocalOutbox(engine=chat.app[RUNTIME].engine)
    await outbox.add(recipient=None, certificate_serial="ab12", kind="30d", text="Expires *soon*")
    response = await chat.get("/chat/reminders")
    assert response.headers["Cache-Control"] == "no-store"
    [reminder] = (await response.json())["reminders"]
    assert (reminder["text"], reminder["certificate_serial"]) == ("Expires *soon*", "ab12")


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        ("not json", {"Content-Type": "application/json"}),
        ('{"text": "hi"}', {"Content-Type": "text/plain"}),
        ("[1]", {"Content-Type": "application/json"}),
        ('{"action": "self_destruct"}', {"Content-Type": "application/json"}),
        ('{"text": "' + "x" * 2001 + '"}', {"Content-Type": "application/json"}),
        ("{}", {"Content-Type": "application/json"}),
    ],
)
async def test_bad_requests_get_400_json(chat: Client, body: str, headers: dict[str, str]) -> None:
    response = await chat.post("/chat/message", data=body, headers=headers)
    assert response.status == 400
    assert (await response.json())["error"]["code"] == "request_invalid"


async def test_with_slack_on_the_page_points_to_slack(slack: SlackHarness) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{slack.url}/") as response:
            assert response.status == 200
            assert "Talk to the" in await response.text()
            assert "script-src 'self'" in response.headers["Content-Security-Policy"]
        async with session.post(f"{slack.url}/chat/message", json={"text": "hi"}) as response:
            assert response.status in (404, 405)


async def test_chat_page_works_in_a_browser(
    local_settings: Settings, aiohttp_server: Callable[..., Any]
) -> None:
    """Headless Chromium: the page loads its script under the CSP and answers a question; it
    never shows the operator's outbox."""
    executable = system.chromium()
    app = create_app(local_settings)
    server = await aiohttp_server(app)
    app[CHAT].questions.knowledge = FakeKnowledge()
    await LocalOutbox(engine=app[RUNTIME].engine).add(
        recipient=None, certificate_serial="ab12", kind="30d", text="Your certificate expires soon"
    )
    violations: list[str] = []
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        page = await browser.new_page()
        page.on(
            "console",
            lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None,
        )
        await page.goto(str(server.make_url("/")))
        await page.get_by_role("button", name="How to renew").wait_for()
        assert await page.get_by_role("button", name="Download my certificate").count() == 0
        await page.get_by_label("Your question").fill("how do I find the CN of my certificate")
        await page.get_by_role("button", name="Send").click()
        await page.get_by_text("Open the certificate's Subject.").wait_for()
        assert await page.get_by_text("Your certificate expires soon").count() == 0
        # A Chinese browser gets the page and the greeting in Chinese.
        chinese = await browser.new_page(locale="zh-CN")
        await chinese.goto(str(server.make_url("/")))
        await chinese.get_by_role("button", name="如何更新").wait_for()
        await chinese.get_by_text("下载或更新证书请使用 RA 发给你的链接和授权码").wait_for()
        await chinese.get_by_label("你的问题").fill("如何更新")
        await chinese.get_by_role("button", name="发送").click()
        await chinese.get_by_text("点击更新证书。").wait_for()
        await browser.close()
    assert violations == []


async def test_deeply_nested_json_is_a_400(chat: Client) -> None:
    """Finding 4: deeply nested JSON at /chat/message is the chat's JSON error, not a 500
    (5,000 brackets fit in its 16 KiB; 30,000 are refused as too long)."""
    for depth in (5_000, 30_000):
        response = await chat.post(
            "/chat/message",
            data="[" * depth + "]" * depth,
            headers={"Content-Type": "application/json"},
        )
        assert response.status == 400, await response.text()
        assert (await response.json())["error"]["code"] == "request_invalid"
