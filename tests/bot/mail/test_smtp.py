"""SMTP settings and delivery against a real aiosmtpd server: 4xx transient, 5xx permanent."""

from __future__ import annotations

from email.message import EmailMessage

import pytest
from pydantic import ValidationError

from bot.cli import configuration_problem
from bot.mail.compose import compose
from bot.mail.smtp import MailFailed, SmtpTransport, parse_smtp_url
from bot.settings import Settings
from tests.support.smtp import SmtpServer, body_text, free_port


def test_parse_smtp_url_starttls_with_credentials() -> None:
    config = parse_smtp_url("smtp://user%40x:p%3Ass@mail.example.com:587?starttls=1")
    assert (config.host, config.port, config.use_tls, config.require_starttls) == (
        "mail.example.com",
        587,
        False,
        True,
    )
    assert (config.username, config.password) == ("user@x", "p:ss")
    assert "p:ss" not in repr(config)


def test_parse_smtps_url_defaults_to_port_465() -> None:
    config = parse_smtp_url("smtps://mail.example.com")
    assert (config.port, config.use_tls, config.require_starttls) == (465, True, False)


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://mail.example.com", "smtp:// or smtps://"),
        ("smtp://:25", "no host"),
        ("smtp://mail.example.com?tls=1", "unknown option"),
        ("smtps://mail.example.com?starttls=1", "TLS from the start"),
        ("smtp://mail.example.com:99999", "valid port"),
    ],
)
def test_parse_smtp_url_refuses_with_what_to_fix(url: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_smtp_url(url)


def test_bad_smtp_url_setting_names_the_variable_not_the_password() -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(_env_file=None, smtp_url="smtpx://user:hunter2secret@mail.example.com")
    line = configuration_problem(caught.value)
    assert "CERTDESK_SMTP_URL" in line
    assert "hunter2secret" not in line


def _message(to: str) -> EmailMessage:
    return compose(
        "unlocked",
        "zh",
        to=to,
        sender="certdesk@example.com",
        values={"cn": "张三", "reference": "1234567890"},
    )


async def test_smtp_delivers_multipart_text_and_html(smtp: SmtpServer) -> None:
    await SmtpTransport(parse_smtp_url(smtp.url)).send(_message("h@example.com"))
    (mail,) = smtp.wait_for(1)
    assert mail.get_content_type() == "multipart/alternative"
    types = [part.get_content_type() for part in mail.iter_parts()]
    assert types == ["text/plain", "text/html"]
    assert "1234567890" in mail["Subject"]
    assert "张三" in body_text(mail)
    assert mail["Content-Language"] == "zh-CN"


async def test_smtp_5xx_is_permanent(smtp: SmtpServer) -> None:
    smtp.answer("gone@example.com", "550 5.1.1 no such user")
    with pytest.raises(MailFailed) as caught:
        await SmtpTransport(parse_smtp_url(smtp.url)).send(_message("gone@example.com"))
    assert caught.value.permanent
    assert "550" in caught.value.message


async def test_smtp_4xx_is_transient(smtp: SmtpServer) -> None:
    smtp.answer("busy@example.com", "451 4.3.0 try again later")
    with pytest.raises(MailFailed) as caught:
        await SmtpTransport(parse_smtp_url(smtp.url)).send(_message("busy@example.com"))
    assert not caught.value.permanent
    assert "451" in caught.value.message


async def test_smtp_unreachable_is_transient_and_names_the_server() -> None:
    port = free_port()
    with pytest.raises(MailFailed) as caught:
        await SmtpTransport(parse_smtp_url(f"smtp://u:secretpw@127.0.0.1:{port}")).send(
            _message("h@example.com")
        )
    assert not caught.value.permanent
    assert f"127.0.0.1:{port}" in caught.value.message
    assert "secretpw" not in caught.value.message


def test_mail_from_defaults_to_the_public_host_and_refuses_a_non_address() -> None:
    settings = Settings(_env_file=None, public_url="https://certs.example.com:8443")
    assert settings.mail_sender == "certdesk@certs.example.com"
    with pytest.raises(ValidationError) as caught:
        Settings(_env_file=None, mail_from="not an address")
    assert "CERTDESK_MAIL_FROM" in configuration_problem(caught.value)
