"""A mail from its kind, language and values: a multipart text + HTML ``EmailMessage``. Pure.

>>> m = compose("unlocked", "en", to="h@example.com", sender="certdesk@example.com",
...             values={"cn": "Holder", "reference": "1234567890"})
>>> m["Subject"], m.get_content_type()
('Your enrollment 1234567890 is unlocked', 'multipart/alternative')
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from bot.mail.texts import BODIES, FOOTER, SUBJECTS, MailKind
from common.language import Lang
from common.time import utcnow

_CONTROL = str.maketrans(dict.fromkeys("\r\n\t\x00", " "))


def _plain(value: object) -> str:
    """A value as it may appear in a header or a line: no line breaks."""
    return str(value).translate(_CONTROL)


def compose(
    kind: MailKind,
    lang: Lang,
    *,
    to: str,
    sender: str,
    values: Mapping[str, object],
) -> EmailMessage:
    """The mail ``kind`` in ``lang`` to ``to``; ``values`` fill the placeholders."""
    clean = {name: _plain(value) for name, value in values.items()}
    paragraphs = [p.format(**clean) for p in BODIES[kind][lang]]
    escaped = {name: html.escape(value) for name, value in clean.items()}
    if "url" in clean:
        escaped["url"] = f'<a href="{html.escape(clean["url"])}">{html.escape(clean["url"])}</a>'
    html_paragraphs = [p.format(**escaped) for p in BODIES[kind][lang]]
    footer = FOOTER[lang]

    message = EmailMessage()
    message["Subject"] = SUBJECTS[kind][lang].format(**clean)
    message["From"] = sender
    message["To"] = to
    message["Date"] = format_datetime(utcnow())
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2].strip("> ") or None)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content("\n\n".join([*paragraphs, "--", footer]) + "\n")
    body = "\n".join(f"<p>{p}</p>" for p in html_paragraphs)
    html_lang = "zh-CN" if lang == "zh" else "en"
    message.add_alternative(
        f'<!doctype html>\n<html lang="{html_lang}"><head><meta charset="utf-8"></head>'
        f"<body>\n{body}\n<hr>\n<p><small>{html.escape(footer)}</small></p>\n</body></html>\n",
        subtype="html",
    )
    message["Content-Language"] = html_lang  # after set_content, which drops Content-* headers
    return message
