"""``certdesk token``: the USB-key (PKCS#11) client. enroll, renew in place, list, clean.

The parser and the implementation are the holder's client's own (``usbkey/cli.py``, also the
``certdesk-usbkey`` console script); this module only registers them under ``certdesk`` and
hands them the environment. It needs no database and no certdesk settings.
"""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

from bot.commands.shared import SubParsers, command
from usbkey.cli import EXIT_STATUSES, add_actions

if TYPE_CHECKING:
    from bot.settings import Settings


def register(sub: SubParsers) -> None:
    parser = command(
        sub,
        "token",
        run,
        epilog=EXIT_STATUSES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_actions(parser.add_subparsers(dest="token_command", required=True, metavar="ACTION"))


def run(args: argparse.Namespace, settings: Settings) -> int:
    """USB key (PKCS#11): enroll, renew, list, clean"""
    from usbkey.cli import dispatch

    return dispatch(args, os.environ, prog="certdesk")
