"""``certdesk inspect FILE [--json]``: CN, every OU in order, O, issuer, serial and validity of a
PEM / DER / PKCS#7 / PKCS#12 certificate file."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from bot.commands.shared import SubParsers, fail, local_command
from common.language import LANGUAGES

if TYPE_CHECKING:
    from faq.inspector import Inspection


def register(sub: SubParsers) -> None:
    parser = local_command(sub, "inspect", run_inspect)
    parser.set_defaults(end_now=True)  # nothing stays open: see bot.cli.end_now
    parser.add_argument("file", metavar="FILE", type=Path, help=".pem .cer .crt .der .p7b .p12")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--password-env",
        metavar="VAR",
        help="environment variable holding the PKCS#12 password (default: ask on the terminal)",
    )
    parser.add_argument("--language", choices=LANGUAGES, default="en", help="language of the text")


def run_inspect(args: argparse.Namespace) -> int:
    """show who a certificate file is for, who issued it and until when"""
    from faq.errors import InspectionError
    from faq.messages import error_message
    from faq.render import render_inspection

    try:
        data = args.file.read_bytes()
    except OSError as exc:
        return fail(f"cannot read {args.file}: {exc.strerror or exc}")
    password: str | None = None
    if args.password_env:
        password = os.environ.get(args.password_env)
        if password is None:
            return fail(f"the environment variable {args.password_env} is not set")
    try:
        inspection = _inspect(data, password, may_prompt=args.password_env is None)
    except InspectionError as exc:
        return fail(f"{args.file}: {error_message(exc, args.language)}")
    if args.json:
        print(json.dumps({"file": str(args.file), **inspection.to_json()}, ensure_ascii=False))
    else:
        print(render_inspection(inspection, language=args.language))
    return 0


def _inspect(data: bytes, password: str | None, *, may_prompt: bool) -> Inspection:
    from faq.errors import PasswordRequired
    from faq.inspector import inspect_certificates

    now = datetime.now(UTC)
    try:
        return inspect_certificates(data, now=now, password=password)
    except PasswordRequired:
        if not (may_prompt and sys.stdin.isatty()):
            raise
        prompted = getpass.getpass("PKCS#12 password: ")
        return inspect_certificates(data, now=now, password=prompted)
