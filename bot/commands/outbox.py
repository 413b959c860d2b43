"""``certdesk outbox``: the mails in the local outbox (``<data dir>/outbox/*.eml``), written
when ``CERTDESK_SMTP_URL`` is unset or when SMTP did not take a mail that could not wait."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from bot.commands.shared import SubParsers, command

if TYPE_CHECKING:
    from bot.settings import Settings


def register(sub: SubParsers) -> None:
    parser = command(sub, "outbox", run)
    parser.add_argument("--json", action="store_true", help="print one JSON object a line")


def run(args: argparse.Namespace, settings: Settings) -> int:
    """list the mails in the local outbox (written while SMTP is unset or unreachable)

    List the .eml files in the data directory's outbox, oldest first. Open one with any mail
    program, or forward it; the files hold one-time links, so keep them private.
    """
    import json
    import sys

    from bot.mail.outbox import MailOutbox

    outbox = MailOutbox(settings.data_dir)
    print(f"certdesk: outbox {outbox.directory}", file=sys.stderr)
    count = 0
    for entry in outbox.entries():
        count += 1
        if args.json:
            print(json.dumps(entry.as_dict(), ensure_ascii=False))
        else:
            when = f"{entry.date:%Y-%m-%d %H:%M}" if entry.date else "?"
            print(f"{when}  {entry.to}  {entry.subject}  ({entry.path.name}: {entry.reason})")
    if not count and not args.json:
        print("The outbox is empty.")
    return 0
