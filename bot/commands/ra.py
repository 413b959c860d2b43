"""``certdesk ra``: RA staff operations from a terminal (every one is audited)."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from typing import TYPE_CHECKING

from bot.commands import ra_delivery
from bot.commands.shared import SubParsers
from common.errors import CertdeskError
from enrollment.ca.crl import REASON_NAMES, parse_reason
from enrollment.ca.profiles import DEFAULT_PROFILE, PROFILES

if TYPE_CHECKING:
    from bot.settings import Settings


def register(sub: SubParsers) -> None:
    parser = sub.add_parser("ra", help="RA staff operations")
    ra_sub = parser.add_subparsers(dest="ra_command", required=True, metavar="ACTION")

    issue = ra_sub.add_parser("issue", help="create an enrollment and its one-time link")
    issue.add_argument("--cn", required=True, help="the holder's common name")
    issue.add_argument("--ou", action="append", default=[], help="an OU (repeat, in order)")
    issue.add_argument("--o", help="organisation")
    issue.add_argument("--email", help="the holder's e-mail address (gets the link by mail)")
    issue.add_argument("--slack-user", help="Slack user ID of the holder (gets the link)")
    issue.add_argument(
        "--profile", default=DEFAULT_PROFILE, choices=sorted(PROFILES), help="certificate profile"
    )
    issue.add_argument(
        "--notify",
        choices=("slack", "email", "both"),
        help="how the holder gets the link (default: Slack with --slack-user, else mail)",
    )
    issue.add_argument(
        "--language",
        choices=("en", "zh"),
        help="the holder's language for mails (default: the language of the CN)",
    )
    issue.add_argument("--json", action="store_true", help="print one JSON object")
    issue.set_defaults(handler=run_issue)

    unlock = ra_sub.add_parser("unlock", help="unlock an enrollment locked by wrong codes")
    unlock.add_argument("reference", metavar="REFERENCE", help="the enrollment's reference number")
    unlock.set_defaults(handler=run_unlock)

    revoke = ra_sub.add_parser(
        "revoke", help="revoke a certificate; the CRL at /crl lists it at once"
    )
    revoke.add_argument("serial", metavar="SERIAL", help="serial number in hex (colons allowed)")
    revoke.add_argument(
        "--reason",
        required=True,
        metavar="R",
        help=f"RFC 5280 reason: {', '.join(REASON_NAMES)}",
    )
    revoke.set_defaults(handler=run_revoke)

    ra_delivery.register(ra_sub)


def actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"


def fail(message: str) -> int:
    print(f"certdesk: {message}", file=sys.stderr)
    return 1


def run_issue(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    from pydantic import ValidationError

    from bot.runtime import open_runtime
    from enrollment.services import EnrollmentCreate

    try:
        request = EnrollmentCreate(
            cn=args.cn,
            ous=args.ou,
            o=args.o,
            email=args.email,
            slack_user=args.slack_user,
            profile=args.profile,
            notify=args.notify,
            language=args.language,
        )
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'input'}: {e['msg']}" for e in exc.errors()
        )
        return fail(f"cannot create the enrollment: {problems}")

    async def go() -> int:
        from bot.mail.wiring import holder_notices, issue_enrollment

        async with open_runtime(settings) as runtime:
            issued = await issue_enrollment(
                runtime, holder_notices(settings, runtime), request, actor=actor()
            )
        created = issued.created
        if args.json:
            answer: dict[str, object] = {
                "reference_number": created.reference_number,
                "authorization_code": created.authorization_code,
                "link": created.link.url,
            }
            if issued.deliveries:
                answer["deliveries"] = issued.deliveries_json()
            print(json.dumps(answer))
        else:
            print(f"Reference number:   {created.reference_number}")
            print(f"Authorization code: {created.authorization_code}")
            print(f"One-time link:      {created.link.url}")
            print(f"Link expires:       {created.link.expires_at:%Y-%m-%d %H:%M} UTC")
            ra_delivery.print_deliveries(issued.deliveries, code_follows=settings.mail_code)
            if not issued.delivered:
                print(
                    "Give the holder the link and the reference number; send the code separately."
                )
        return ra_delivery.report_failures(issued.deliveries)

    return asyncio.run(go())


def run_unlock(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    from bot.runtime import open_runtime

    async def go() -> int:
        from bot.commands.ra_delivery import notify_holder
        from enrollment.queries import EnrollmentQueries

        async with open_runtime(settings) as runtime:
            before = await EnrollmentQueries(engine=runtime.engine).enrollment(args.reference)
            try:
                enrollment = await runtime.services.ra.unlock(args.reference, actor=actor())
            except CertdeskError as exc:
                return fail(exc.message)
            print(f"Enrollment {enrollment.reference_number} is unlocked; wrong-code count reset.")
            if before is not None and before.locked:
                await notify_holder(settings, runtime, unlocked=enrollment.reference_number)
        return 0

    return asyncio.run(go())


def run_revoke(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    from bot.commands.ra_delivery import notify_holder
    from bot.runtime import open_runtime

    try:
        parse_reason(args.reason)  # refuse a bad reason before touching the store
    except CertdeskError as exc:
        return fail(exc.message)

    async def go() -> int:
        async with open_runtime(settings) as runtime:
            try:
                cert = await runtime.services.revocation.revoke(
                    args.serial, reason=args.reason, actor=actor()
                )
            except CertdeskError as exc:
                return fail(exc.message)
            print(
                f"Certificate {cert.serial} ({cert.subject}) is revoked: "
                f"{cert.revocation_reason}. The CRL at {settings.public_url}/crl lists it now."
            )
            await notify_holder(
                settings, runtime, revoked=cert.serial, reason=str(cert.revocation_reason)
            )
        return 0

    return asyncio.run(go())
