"""Each group of paths owns its errors: the chat and the API answer JSON, the pages a page."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from aiohttp.test_utils import TestClient

from bot.chat import CHAT
from common.language import Lang
from enrollment.errors import EnrollmentLocked
from tests.bot.conftest import FakeKnowledge

Client = TestClient[Any, Any]


class LockedKnowledge(FakeKnowledge):
    """A knowledge module whose every question fails with a domain error."""

    def ask(self, question: str, *, language: Lang | None = None) -> Any:
        raise EnrollmentLocked("0042")


async def test_domain_error_in_the_chat_handler_is_the_chats_json_error(client: Client) -> None:
    client.app[CHAT].questions.knowledge = LockedKnowledge()
    response = await client.post("/chat/message", json={"text": "what is my CN?"})
    assert response.status == EnrollmentLocked.status
    assert response.content_type == "application/json"
    error = (await response.json())["error"]
    assert error == {"code": EnrollmentLocked.code, "message": EnrollmentLocked("0042").message}
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]


async def test_api_errors_stay_json(client: Client) -> None:
    unknown_link = await client.post("/api/v1/enroll/no-such-token", json={})
    assert unknown_link.content_type == "application/json"
    assert "error" in await unknown_link.json()
    unknown_path = await client.get("/api/v1/nothing-here")
    assert unknown_path.status == 404
    error = (await unknown_path.json())["error"]
    assert error["code"] == "not_found"
    assert "/api/openapi.json" in error["message"]  # where the paths are listed
    assert (await client.get("/api/openapi.json")).status == 200


async def test_page_errors_stay_pages(client: Client) -> None:
    response = await client.get("/enroll/no-such-token")
    assert 400 <= response.status < 500
    assert response.content_type == "text/html"
    assert "<html" in (await response.text()).lower()


async def test_a_path_no_route_serves_is_a_page_for_a_browser_and_plain_for_a_program(
    client: Client,
) -> None:
    browser = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8", "Accept-Language": "zh-CN"}
    page = await client.get("/enrol/a-mistyped-link", headers=browser)
    assert page.status == 404
    assert page.content_type == "text/html"
    body = await page.text()
    assert "找不到页面" in body  # the reader's language
    message = body.split('id="error-message">', 1)[1].split("</p>", 1)[0]
    assert "复制了完整的链接" in message  # what to do next
    assert "a-mistyped-link" not in message  # nor in the log: a path may hold a token
    assert 'href="?lang=en"' in body  # the language switch: this page, in English
    program = await client.get("/enrol/a-mistyped-link", headers={"Accept": "*/*"})
    assert program.status == 404
    assert program.content_type == "text/plain"
    # A 404 a handler raises itself (a missing static file) and the API's keep their answers.
    missing = await client.get("/static/no-such-file.js", headers=browser)
    assert missing.status == 404
    assert missing.content_type != "text/html"
    api = await client.get("/api/v1/nothing-here", headers=browser)
    assert api.status == 404
    assert (await api.json())["error"]["code"] == "not_found"


async def test_a_crafted_address_gives_no_link_to_another_site(client: Client) -> None:
    """``//host/x`` or ``/\\host/x`` is a path no route serves; the not-found page must not turn
    it into a link (its language switch) that a browser reads as another site's address. Sent
    on a raw connection: aiohttp's own client reads ``//host/x`` as an absolute URL."""
    for path in ("//evil.example/x", "/\\evil.example/x", "///evil.example/x"):
        reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: certdesk.test\r\nAccept: text/html\r\n"
            "Connection: close\r\n\r\n".encode()
        )
        response = (await reader.read()).decode()
        writer.close()
        assert response.startswith("HTTP/1.1 404"), response[:200]
        hrefs = re.findall(r'href="([^"]*)"', response)
        assert 'href="?lang=zh"' in response  # the page's language switch is there
        assert not [h for h in hrefs if "evil.example" in h], hrefs
