"""The USB-key client's command line: one parser for both programs, exit statuses, languages."""

from __future__ import annotations

import argparse
import string

import pytest

from bot.cli import build_parser
from common.errors import CertdeskError
from usbkey import cli
from usbkey.messages import ERRORS, TEXTS
from usbkey.pkcs11 import errors


def _actions(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def _options(parser: argparse.ArgumentParser) -> list[tuple[tuple[str, ...], str | None]]:
    return [(tuple(a.option_strings), a.dest) for a in parser._actions]


def _client_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="certdesk-usbkey")
    cli.add_actions(parser.add_subparsers(dest="token_command", required=True))
    return parser


def test_certdesk_token_and_certdesk_usbkey_have_the_same_actions_and_options() -> None:
    token = _actions(build_parser())["token"]
    server_side = _actions(token)
    holder_side = _actions(_client_parser())
    assert sorted(server_side) == sorted(holder_side) == ["clean", "enroll", "list", "renew"]
    for name in server_side:
        assert _options(server_side[name]) == _options(holder_side[name])
    enroll = {o for opts, _ in _options(server_side["enroll"]) for o in opts}
    assert {
        "--module",
        "--token-label",
        "--pin-env",
        "--reference-number",
        "--authorization-code-env",
        "--lang",
        "--quiet",
    } <= enroll
    assert "--keep-old" in {o for opts, _ in _options(server_side["renew"]) for o in opts}
    assert "--yes" in {o for opts, _ in _options(server_side["clean"]) for o in opts}


def test_every_argument_has_help_and_every_action_documents_its_exit_statuses() -> None:
    for name, parser in _actions(_client_parser()).items():
        assert parser.epilog == cli.EXIT_STATUSES, name
        for action in parser._actions:
            assert action.help, (name, action.dest)
        assert "5  the PIN is incorrect" in parser.format_help()


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (errors.WrongModule("/x.so", "the file does not exist"), 3),
        (errors.NoToken("/x.so"), 4),
        (errors.SeveralTokens(["a", "b"]), 4),
        (errors.TokenNotFound("c", ["a"]), 4),
        (errors.PinIncorrect(), 5),
        (errors.PinLocked(), 6),  # SoftHSM2 never locks a PIN: this mapping is tested here only
        (errors.ServerRefused(code="link_used", message="used", status=410), 7),
        (errors.ServerUnreachable("http://x", "refused", sent=False), 8),
        (errors.InputMissing("PIN", "--pin-env VAR"), 2),
        (errors.LinkMalformed("nope"), 2),
        (errors.NoCertificateToRenew("t"), 1),
        (errors.TokenOperationFailed("sign", RuntimeError("x")), 1),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, CertdeskError) else str(value),
)
def test_exit_status_is_one_per_class_of_error(error: CertdeskError, status: int) -> None:
    assert cli.exit_status(error) == status
    assert f"  {status}  " in cli.EXIT_STATUSES


def test_every_text_is_in_english_and_chinese_with_the_same_placeholders() -> None:
    names = lambda template: {f for _, f, _, _ in string.Formatter().parse(template) if f}  # noqa: E731
    for key, texts in TEXTS.items():
        assert set(texts) == {"en", "zh"}, key
        assert names(texts["en"]) == names(texts["zh"]) or key == "pending", key


@pytest.mark.parametrize(
    "error",
    [
        errors.WrongModule("/x.so", "the file does not exist"),
        errors.NoToken("/x.so"),
        errors.SeveralTokens(["a", "b"]),
        errors.TokenNotFound("c", ["a"]),
        errors.PinIncorrect(),
        errors.PinLocked(),
        errors.InputMissing("PIN", "--pin-env VAR"),
        errors.LinkMalformed("nope"),
        errors.NoCertificateToRenew("t", " labelled 'x'"),
        errors.SeveralCertificates(["a", "b"]),
        errors.TokenOperationFailed("sign", RuntimeError("x")),
        errors.ServerUnreachable("http://x", "timed out"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_every_client_error_reads_in_chinese(error: errors.TokenError) -> None:
    """Each error the client raises has its Chinese text, filled from the values it carries."""
    console = cli.Console(lang="zh", quiet=True, prog="certdesk-usbkey", environ={})
    message = console.error_message(error)
    assert error.code in ERRORS
    assert message != error.message
    assert any("\u4e00" <= char <= "\u9fff" for char in message)
    assert "{" not in message


@pytest.mark.parametrize(
    ("environ", "lang"),
    [
        ({"LANG": "zh_CN.UTF-8"}, "zh"),
        ({"LC_ALL": "en_US.UTF-8", "LANG": "zh_CN.UTF-8"}, "en"),
        ({"LC_MESSAGES": "zh_TW.UTF-8"}, "zh"),
        ({"LANG": "de_DE.UTF-8"}, "en"),
    ],
)
def test_system_language_follows_the_locale_variables(environ: dict[str, str], lang: str) -> None:
    assert cli.system_language(environ) == lang


def test_progress_steps_go_to_stderr_unless_quiet(capsys: pytest.CaptureFixture[str]) -> None:
    cli.Console(lang="en", quiet=False, prog="p", environ={}).step("generating")
    cli.Console(lang="en", quiet=True, prog="p", environ={}).step("sending")
    out, err = capsys.readouterr()
    assert out == ""
    assert err == "generating the key pair on the token (this can take a minute)…\n"


def test_a_named_variable_that_is_empty_is_a_usage_error() -> None:
    console = cli.Console(lang="en", quiet=True, prog="p", environ={"PIN": ""})
    with pytest.raises(errors.InputMissing) as raised:
        console.secret("PIN", "PIN: ", "PIN", "--pin-env VAR")
    assert "the environment variable PIN is empty" in raised.value.message
    assert cli.exit_status(raised.value) == 2
