"""Parsing /ra command text as Slack sends it."""

from __future__ import annotations

import pytest

from bot.slack.syntax import (
    CommandSyntaxError,
    IssueArgs,
    parse_issue,
    parse_revoke,
    parse_single_user,
    split_command,
    user_id,
)


def test_parse_issue_with_escaped_mention_and_ordered_ous() -> None:
    args = parse_issue(
        '<@U0234ABCD|holder> cn="Test Holder 02" ou="Branch 7" ou="RA Shanghai" o="Acme Bank"'
    )
    assert args == IssueArgs(
        user="U0234ABCD", cn="Test Holder 02", ous=("Branch 7", "RA Shanghai"), o="Acme Bank"
    )


def test_parse_issue_with_plain_mention_email_and_profile() -> None:
    args = parse_issue('<@U2> cn="A B" email=a@b.example profile=smime')
    assert args.user == "U2"
    assert args.email == "a@b.example"
    assert args.profile == "smime"


def test_parse_issue_accepts_typographic_quotes_and_entities() -> None:
    args = parse_issue("<@U2|x> cn=“Zhang San” o=“R&amp;D Bank”")
    assert args.cn == "Zhang San"
    assert args.o == "R&D Bank"


def test_parse_issue_keeps_backslashes() -> None:
    assert parse_issue(r'<@U2> cn="A\B"').cn == "A\\B"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('cn="A"', "name the holder"),
        ("<@U2>", "common name"),
        ('<@U2> cn="A', "quotation mark"),
        ('<@U2> cn="A" title="B"', "unknown field 'title'"),
        ('<@U2> <@U3> cn="A"', "exactly one holder"),
        ('<@U2> cn="A" cn="B"', "given twice"),
        ('<@U2> cn=""', "cn is empty"),
        ('<@U2> hello cn="A"', "don't understand 'hello'"),
    ],
)
def test_parse_issue_explains_mistakes(text: str, message: str) -> None:
    with pytest.raises(CommandSyntaxError, match=message):
        parse_issue(text)


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("<@U2ABC|name>", "U2ABC"),
        ("<@W123>", "W123"),
        ("@U0123ABCD", "U0123ABCD"),
        ("U0123ABCD", "U0123ABCD"),
        ("1234567890", None),
        ("@alice", None),
    ],
)
def test_user_id_forms(token: str, expected: str | None) -> None:
    assert user_id(token) == expected


def test_parse_single_user_refuses_reference() -> None:
    with pytest.raises(CommandSyntaxError):
        parse_single_user("1234567890")


def test_split_command_lowercases_the_word() -> None:
    assert split_command("  Issue  <@U2> cn=x ") == ("issue", "<@U2> cn=x")
    assert split_command("") == ("", "")


def test_parse_revoke_normalizes_serial_and_defaults_reason() -> None:
    assert parse_revoke("0A:1B keyCompromise") == ("0a1b", "keyCompromise")
    assert parse_revoke("0x0a1b") == ("0a1b", "unspecified")


@pytest.mark.parametrize("text", ["", "zz", "0a1b too many words"])
def test_parse_revoke_refuses_garbage(text: str) -> None:
    with pytest.raises(CommandSyntaxError):
        parse_revoke(text)
