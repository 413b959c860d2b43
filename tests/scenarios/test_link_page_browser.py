"""``GET /link`` in headless Chromium against a real `certdesk serve` and a real SMTP server:
the holder finds the fields by their labels, presses the button, and the new link arrives at
the registered address (English and Chinese pages)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from bot.runtime import Runtime
from enrollment.services import EnrollmentCreate
from enrollment.services.ra import NewEnrollment
from tests.scenarios.conftest import Desk
from tests.support.processes import base_env, live_server
from tests.support.smtp import SmtpServer, body_text, smtp_server


@pytest.fixture(scope="module")
def mail() -> Iterator[SmtpServer]:
    with smtp_server() as server:
        yield server


@pytest.fixture(scope="module")
def mail_desk(tmp_path_factory: pytest.TempPathFactory, mail: SmtpServer) -> Iterator[Desk]:
    data_dir = tmp_path_factory.mktemp("mail-desk")
    with live_server(base_env(data_dir, {"CERTDESK_SMTP_URL": mail.url})) as server:
        yield Desk(server=server, data_dir=data_dir)


def enroll(desk: Desk, email: str, cn: str) -> NewEnrollment:
    async def work(runtime: Runtime) -> NewEnrollment:
        return await runtime.services.ra.create_enrollment(
            EnrollmentCreate(cn=cn, email=email), actor="test"
        )

    return desk.call(work)


@pytest.mark.parametrize(
    ("locale", "labels", "sent"),
    [
        ("en-US", ("Reference number", "E-mail address", "Send me a new link"), "Check your mail"),
        ("zh-CN", ("参考号", "电子邮箱地址", "给我发送新链接"), "请查收邮件"),
    ],
)
def test_holder_asks_for_a_new_link_in_chromium(
    browser: Browser,
    mail_desk: Desk,
    mail: SmtpServer,
    tmp_path: Path,
    locale: str,
    labels: tuple[str, str, str],
    sent: str,
) -> None:
    address = f"holder-{locale.lower()}@example.com"
    created = enroll(mail_desk, address, "Test Holder 01")
    context = browser.new_context(locale=locale)
    page = context.new_page()
    try:
        page.goto(f"{mail_desk.url}/link")
        reference_label, email_label, button = labels
        page.get_by_label(reference_label).fill(created.reference_number)
        page.get_by_label(email_label).fill(address)
        page.get_by_role("button", name=button).click()
        page.get_by_role("heading", name=sent).wait_for()
    finally:
        context.close()
    text = body_text(mail.wait_to(address))
    assert re.search(rf"{re.escape(mail_desk.url)}/enroll/[A-Za-z0-9_-]+", text)
    assert created.reference_number in text


@pytest.mark.parametrize(
    ("locale", "heading", "advice"),
    [
        ("en-US", "Page not found", ("copied the whole link", "outside Slack, go to /link")),
        ("zh-CN", "找不到页面", ("完整的链接", "不使用 Slack 时，请在 /link")),
    ],
)
def test_a_mistyped_address_shows_the_not_found_page_in_chromium(
    browser: Browser, mail_desk: Desk, locale: str, heading: str, advice: tuple[str, str]
) -> None:
    context = browser.new_context(locale=locale)
    page = context.new_page()
    errors: list[str] = []
    page.on(
        "console", lambda message: errors.append(message.text) if message.type == "error" else None
    )
    try:
        response = page.goto(f"{mail_desk.url}/enrol/cut-off-link")  # "enroll" mistyped
        assert response is not None
        assert response.status == 404
        page.get_by_role("heading", name=heading).wait_for()
        message = page.locator("#error-message").inner_text()
        assert all(part in message for part in advice), message
    finally:
        context.close()
    # the browser's own line for the 404 status is the only console error (no CSP violation)
    assert [e for e in errors if "404" not in e] == []


def test_the_language_switch_keeps_the_page_in_chromium(browser: Browser, mail_desk: Desk) -> None:
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    try:
        page.goto(f"{mail_desk.url}/link")
        page.get_by_label("Reference number").wait_for()
        page.get_by_role("link", name="中文").click()
        page.get_by_label("参考号").wait_for()
        assert page.url == f"{mail_desk.url}/link?lang=zh"
        page.get_by_role("link", name="English").click()
        page.get_by_label("Reference number").wait_for()
        assert page.url == f"{mail_desk.url}/link?lang=en"
    finally:
        context.close()
