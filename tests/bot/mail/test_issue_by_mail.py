"""`certdesk ra issue --email` for a holder outside Slack: the link by mail, never the code;
the holder enrolls through that link. With SMTP down or unset, nothing is lost."""

from __future__ import annotations

import json
import re
import stat
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from bot.app import RUNTIME
from bot.mail.wiring import mail_queue
from bot.settings import Settings
from common.time import utcnow
from tests.support.pki import make_csr
from tests.support.processes import Cli
from tests.support.smtp import SmtpServer, body_text, free_port

HOLDER = "h@example.com"
LINK = re.compile(r"http://certdesk\.test/enroll/[A-Za-z0-9_-]+")


def issue(cli: Cli, settings: Settings, env: dict[str, str], *extra: str) -> Any:
    result = cli(
        "ra",
        "issue",
        "--cn",
        "Test Holder 01",
        "--email",
        HOLDER,
        "--json",
        *extra,
        env={"CERTDESK_DATABASE_URL": settings.database_url, **env},
    )
    return result


async def test_ra_issue_email_mails_link_and_reference_without_code_and_holder_enrolls(
    cli: Cli, migrated: Settings, smtp: SmtpServer, client: TestClient[Any, Any], tmp_path: Path
) -> None:
    result = issue(cli, migrated, {"CERTDESK_SMTP_URL": smtp.url})
    assert result.returncode == 0, result.stderr
    created = json.loads(result.stdout)
    assert [d["channel"] for d in created["deliveries"]] == ["email"]
    (mail,) = smtp.wait_for(1)
    assert mail["To"] == HOLDER
    text = body_text(mail)
    assert created["reference_number"] in text
    assert created["link"] in text
    assert created["authorization_code"] not in text
    assert created["authorization_code"].replace("-", "") not in text.replace("-", "")
    assert [p.get_content_type() for p in mail.iter_parts()] == ["text/plain", "text/html"]

    (link,) = set(LINK.findall(text))
    _, csr = make_csr(tmp_path)
    response = await client.post(
        link.replace("http://certdesk.test", "/api/v1"),
        json={
            "reference_number": created["reference_number"],
            "authorization_code": created["authorization_code"],
            "csr": csr,
        },
    )
    assert response.status == 201, await response.text()


async def test_separate_mode_sends_the_code_alone_later(
    cli: Cli,
    migrated: Settings,
    smtp: SmtpServer,
    client: TestClient[Any, Any],
    settings_factory: Callable[..., Settings],
) -> None:
    result = issue(cli, migrated, {"CERTDESK_SMTP_URL": smtp.url, "CERTDESK_MAIL_CODE": "separate"})
    assert result.returncode == 0, result.stderr
    created = json.loads(result.stdout)
    (delivery,) = created["deliveries"]
    assert delivery["code_mail_at"] is not None
    (link_mail,) = smtp.wait_for(1)
    assert created["authorization_code"] not in body_text(link_mail)

    queue = mail_queue(
        settings_factory(smtp_url=smtp.url, mail_code="separate"), client.app[RUNTIME].engine
    )
    early = await queue.send_due(now=utcnow() + timedelta(minutes=1))
    assert early.sent == 0  # not before its time
    later = await queue.send_due(now=utcnow() + timedelta(minutes=6))
    assert later.sent == 1
    again = await queue.send_due(now=utcnow() + timedelta(minutes=7))
    assert again.sent == 0  # once
    mails = smtp.wait_for(2)
    code_mail = mails[1]
    code_text = body_text(code_mail)
    assert created["authorization_code"] in code_text
    assert created["link"] not in code_text
    assert "/enroll/" not in code_text


def test_without_smtp_mails_go_to_the_outbox_listed_by_certdesk_outbox(
    cli: Cli, migrated: Settings
) -> None:
    result = issue(cli, migrated, {})
    assert result.returncode == 0, result.stderr
    created = json.loads(result.stdout)
    (delivery,) = created["deliveries"]
    assert delivery["ok"]
    assert delivery["outbox_file"]
    eml = Path(delivery["outbox_file"])
    assert stat.S_IMODE(eml.stat().st_mode) == 0o600
    assert stat.S_IMODE(eml.parent.stat().st_mode) == 0o700
    assert created["link"] in eml.read_text()

    listing = cli("outbox", "--json")
    assert listing.returncode == 0, listing.stderr
    (entry,) = [json.loads(line) for line in listing.stdout.splitlines()]
    assert entry["to"] == HOLDER
    assert created["reference_number"] in entry["subject"]
    assert entry["file"] == str(eml)


async def test_outbox_is_not_served_over_http(
    cli: Cli, migrated: Settings, client: TestClient[Any, Any]
) -> None:
    result = issue(cli, migrated, {})
    name = Path(json.loads(result.stdout)["deliveries"][0]["outbox_file"]).name
    for path in (f"/outbox/{name}", f"/static/../outbox/{name}", "/outbox/"):
        response = await client.get(path)
        assert response.status == 404


def test_smtp_down_is_a_clear_error_and_loses_nothing(cli: Cli, migrated: Settings) -> None:
    port = free_port()
    result = issue(cli, migrated, {"CERTDESK_SMTP_URL": f"smtp://127.0.0.1:{port}"})
    assert result.returncode == 3
    assert "Traceback" not in result.stderr
    assert f"127.0.0.1:{port}" in result.stderr
    assert "kept in the outbox" in result.stderr
    created = json.loads(result.stdout)
    (delivery,) = created["deliveries"]
    assert not delivery["ok"]
    kept = Path(delivery["outbox_file"])
    assert created["link"] in kept.read_text()
    listing = cli("outbox")
    assert kept.name in listing.stdout
