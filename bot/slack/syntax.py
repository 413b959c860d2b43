"""Parsing slash-command text. Pure: no Slack calls, no database.

Slack sends the text after the command with ``&``, ``<`` and ``>`` escaped as HTML entities,
and (with ``should_escape: true`` in the manifest) user mentions as ``<@U123|name>``. People
type quotes as their keyboard pleases, so typographic quotes count as straight ones.
"""

from __future__ import annotations

import html
import re
import shlex
from dataclasses import dataclass

_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
_AT_USER = re.compile(r"@([UW][A-Z0-9]+)")
_BARE_USER = re.compile(r"([UW][A-Z0-9]{6,})")
_QUOTES = str.maketrans({"“": '"', "”": '"', "„": '"', "«": '"', "»": '"', "‘": "'", "’": "'"})
_ISSUE_KEYS = {"cn", "ou", "o", "email", "profile"}


class CommandSyntaxError(ValueError):
    """The command text could not be understood; the message says how to write it."""


@dataclass(frozen=True, slots=True, kw_only=True)
class IssueArgs:
    user: str
    cn: str
    ous: tuple[str, ...] = ()
    o: str | None = None
    email: str | None = None
    profile: str | None = None


def split_command(text: str) -> tuple[str, str]:
    """``"issue @U2 cn=…"`` -> ``("issue", "@U2 cn=…")``; the word lower-cased."""
    word, _, rest = text.strip().partition(" ")
    return word.lower(), rest.strip()


def user_id(token: str) -> str | None:
    """The user ID in ``<@U2|name>``, ``<@U2>``, ``@U2`` or ``U2ABCDEF``, else None."""
    token = token.strip()
    match = _MENTION.fullmatch(token) or _AT_USER.fullmatch(token) or _BARE_USER.fullmatch(token)
    return match.group(1) if match else None


def tokens(text: str) -> list[str]:
    lexer = shlex.shlex(text.translate(_QUOTES), posix=True)
    lexer.whitespace_split = True
    lexer.escape = ""
    lexer.commenters = ""
    try:
        return list(lexer)
    except ValueError:
        raise CommandSyntaxError(
            'a quotation mark is not closed: write values as cn="Full Name"'
        ) from None


def parse_issue(text: str) -> IssueArgs:
    """``@U2 cn="Test Holder 02" ou="Branch 7" ou="RA" o="Acme Bank" email=a@b.c``."""
    user: str | None = None
    fields: dict[str, str] = {}
    ous: list[str] = []
    for token in tokens(text):
        key, equals, value = token.partition("=")
        if not equals:
            found = user_id(token)
            if found is None:
                raise CommandSyntaxError(
                    f"I don't understand {html.unescape(token)!r}: name the holder with @user "
                    'and give the fields as key="value" (cn, ou, o, email, profile)'
                )
            if user is not None and user != found:
                raise CommandSyntaxError("name exactly one holder (@user)")
            user = found
            continue
        key = key.strip().lower()
        if key not in _ISSUE_KEYS:
            raise CommandSyntaxError(
                f"unknown field {key!r}; the fields are cn, ou (repeat it), o, email, profile"
            )
        value = html.unescape(value).strip()
        if not value:
            raise CommandSyntaxError(f"{key} is empty")
        if key == "ou":
            ous.append(value)
        elif key in fields:
            raise CommandSyntaxError(f"{key} is given twice (only ou may repeat)")
        else:
            fields[key] = value
    if user is None:
        raise CommandSyntaxError('name the holder: /ra issue @user cn="…" …')
    if "cn" not in fields:
        raise CommandSyntaxError('give the common name: cn="Full Name"')
    return IssueArgs(
        user=user,
        cn=fields["cn"],
        ous=tuple(ous),
        o=fields.get("o"),
        email=fields.get("email"),
        profile=fields.get("profile"),
    )


def parse_single_user(text: str) -> str:
    found = user_id(text)
    if found is None:
        raise CommandSyntaxError("name one Slack user: @user")
    return found


def parse_revoke(text: str) -> tuple[str, str]:
    """``SERIAL [reason]``: the serial in hex (colons allowed) and an RFC 5280 reason name,
    checked by the enrollment service (default ``unspecified``)."""
    parts = text.split()
    if not parts:
        raise CommandSyntaxError("give the certificate's serial: /ra revoke SERIAL [reason]")
    serial = parts[0].lower().replace(":", "").removeprefix("0x")
    if not re.fullmatch(r"[0-9a-f]{1,64}", serial):
        raise CommandSyntaxError(f"{parts[0]!r} is not a serial number in hex")
    if len(parts) > 2:
        raise CommandSyntaxError("give one reason word, e.g. keyCompromise or superseded")
    return serial, parts[1] if len(parts) > 1 else "unspecified"
