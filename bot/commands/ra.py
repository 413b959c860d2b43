"""``certdesk ra``: RA staff operations from a terminal (every one is audited)."""

from __future__ import annotations

import argparse
import getpass
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

from bot.commands import ra_delivery, ra_reads
from bot.commands.shared import (
    SubParsers,
    announce_data_dir,
    cli_runtime,
    command,
    command_group,
    fail,
)
from common.errors import CertdeskError
from enrollment.ca.profiles import DEFAULT_PROFILE, PROFILES
from enrollment.kinds import REASON_NAMES, revocation_reason

if TYPE_CHECKING:
    from bot.commands.ra_csv import CsvRow
    from bot.mail.issued import Issued
    from bot.runtime import Runtime
    from bot.settings import Settings
    from enrollment.services import EnrollmentCreate
    from enrollment.services.creation import NewEnrollment


def register(sub: SubParsers) -> None:
    ra_sub = command_group(sub, "ra", help="RA staff operations")

    issue = command(ra_sub, "issue", run_issue)
    who = issue.add_mutually_exclusive_group(required=True)
    who.add_argument("--cn", help="the holder's common name")
    who.add_argument(
        "--from-csv",
        metavar="FILE",
        help="a CSV file whose header row names the columns cn, ou (several separated by ;), "
        "o, email, slack_user, profile, notify (slack, email or both); only cn is required. "
        "Prints one JSON line per enrollment",
    )
    issue.add_argument("--ou", action="append", default=[], help="an OU (repeat, in order)")
    issue.add_argument("--o", help="organisation")
    issue.add_argument("--email", help="the holder's e-mail address (gets the link by mail)")
    issue.add_argument("--slack-user", help="Slack user ID of the holder (gets the link)")
    issue.add_argument(
        "--profile",
        default=DEFAULT_PROFILE,
        choices=sorted(PROFILES),
        help=f"certificate profile (default {DEFAULT_PROFILE}; a CSV row's profile wins)",
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
    issue.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object: reference_number, authorization_code, link, expires_at",
    )

    unlock = command(ra_sub, "unlock", run_unlock)
    unlock.add_argument("reference", metavar="REFERENCE", help="the enrollment's reference number")

    revoke = command(ra_sub, "revoke", run_revoke)
    revoke.add_argument("serial", metavar="SERIAL", help="serial number in hex (colons allowed)")
    revoke.add_argument(
        "--reason",
        required=True,
        metavar="R",
        help=f"RFC 5280 reason: {', '.join(REASON_NAMES)}",
    )

    ra_reads.register(ra_sub)
    ra_delivery.register(ra_sub)


def actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"


def run_issue(args: argparse.Namespace, settings: Settings) -> int:
    """create an enrollment and its one-time link (or many, from a CSV file)

    Create a pending enrollment and print its reference number, authorization code and one-time
    link. With --from-csv, create one per row of FILE, all or none: every row is checked first, and
    all are stored in one transaction.
    """
    import asyncio

    from bot.commands.ra_csv import CsvRejected, CsvRow, parse_rows

    if args.from_csv is not None:
        if args.ou or args.o or args.email or args.slack_user:
            return fail(
                "--from-csv takes every holder's fields from the file: leave out --ou, --o, "
                "--email and --slack-user (put them in the file's columns)"
            )
        try:
            with open(args.from_csv, encoding="utf-8-sig", newline="") as handle:
                text = handle.read()
        except (OSError, UnicodeDecodeError) as exc:
            return fail(f"cannot read {args.from_csv}: {getattr(exc, 'strerror', None) or exc}")
        try:
            rows = parse_rows(text, default_profile=args.profile)
        except CsvRejected as exc:
            return fail(f"{args.from_csv}: {exc.message}")
    else:
        request = one_request(args)
        if isinstance(request, str):
            return fail(f"cannot create the enrollment: {request}")
        rows = [CsvRow(0, request, None)]

    async def go() -> int:
        issued = await issue_plainly(settings, rows)
        if issued is None:
            async with cli_runtime(settings) as runtime:
                issued = await issue_enrollments(settings, runtime, rows)
        for row, one in zip(rows, issued, strict=True):
            report: dict[str, object] = dict(enrollment_report(one.created))
            if one.deliveries:
                report["deliveries"] = one.deliveries_json()
            if args.from_csv is not None:
                line = {"row": row.line, "cn": row.request.cn, "notify": row.notify, **report}
                print(json.dumps(line, ensure_ascii=False))
            elif args.json:
                print(json.dumps(report))
            else:
                print_enrollment(one.created, handed_over=one.delivered)
                ra_delivery.print_deliveries(one.deliveries, code_follows=settings.mail_code)
        return max((ra_delivery.report_failures(one.deliveries) for one in issued), default=0)

    return asyncio.run(go())


def one_request(args: argparse.Namespace) -> EnrollmentCreate | str:
    """The enrollment the options describe, or what is wrong with them."""
    from pydantic import ValidationError

    from enrollment.services.creation import EnrollmentCreate, field_problems

    try:
        return EnrollmentCreate(
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
        return "; ".join(
            f"--{OPTIONS.get(wrong.field, wrong.field)}: {wrong.message}"
            if wrong.field
            else str(wrong)
            for wrong in field_problems(exc)
        )


OPTIONS = {"ous": "ou", "slack_user": "slack-user"}
"""The option of an enrollment field whose name differs (``ous`` is given as ``--ou``)."""


async def issue_enrollments(
    settings: Settings, runtime: Runtime, rows: Sequence[CsvRow]
) -> list[Issued]:
    """The one way ``ra issue`` creates enrollments, one or a whole CSV file: all in one
    transaction (none is stored if one cannot be), then each link (never its code) delivered by
    the holder's channel (``notify``: slack, email, both, or the default)."""
    from bot.mail.wiring import deliver_enrollment, holder_notices

    created = await runtime.services.ra.create_enrollments(
        [row.request for row in rows], actor=actor()
    )
    notices = holder_notices(settings, runtime)
    return [
        await deliver_enrollment(runtime, notices, row.request, new, actor=actor())
        for row, new in zip(rows, created, strict=True)
    ]


async def issue_plainly(settings: Settings, rows: Sequence[CsvRow]) -> list[Issued] | None:
    """:func:`issue_enrollments` when no row has a link to deliver, on the embedded database
    at the newest schema: the same unit (:func:`enrollment.services.creation.create_enrollments`)
    through the writer's plain ``sqlite3`` path alone, without SQLAlchemy, the CA or the mail
    queue, none of which such an enrollment needs. None: the whole runtime is needed."""
    if any(row.request.email or row.request.slack_user for row in rows):
        return None
    from bot.datadir import load_pepper
    from bot.lean import enrollment_config, plain_writer
    from bot.mail.issued import Issued
    from enrollment.services import creation

    async with plain_writer(settings) as writer:
        if writer is None:
            return None
        announce_data_dir(settings.data_dir)

        async def stored(drawn: Sequence[creation.Drawn]) -> list[int]:
            assert writer is not None
            return await writer.run(creation.sqlite_unit(drawn))

        created = await creation.create_enrollments(
            [row.request for row in rows],
            pepper=load_pepper(settings),
            config=enrollment_config(settings),
            actor=actor(),
            store=stored,
        )
    return [Issued(created=one, deliveries=()) for one in created]


def enrollment_report(created: NewEnrollment) -> dict[str, str]:
    return {
        "reference_number": created.reference_number,
        "authorization_code": created.authorization_code,
        "link": created.link.url,
        "expires_at": created.link.expires_at.isoformat().replace("+00:00", "Z"),
    }


def print_enrollment(created: NewEnrollment, *, handed_over: bool = False) -> None:
    print(f"Reference number:   {created.reference_number}")
    print(f"Authorization code: {created.authorization_code}")
    print(f"One-time link:      {created.link.url}")
    print(f"Link expires:       {created.link.expires_at:%Y-%m-%d %H:%M} UTC")
    if not handed_over:
        print("Give the holder the link and the reference number; send the code separately.")


def run_unlock(args: argparse.Namespace, settings: Settings) -> int:
    """unlock an enrollment locked by wrong codes"""
    import asyncio

    async def go() -> int:
        from bot.commands.ra_delivery import notify_holder
        from enrollment.queries import EnrollmentQueries

        async with cli_runtime(settings) as runtime:
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
    """revoke a certificate; the CRL at /crl lists it at once"""
    import asyncio

    from bot.commands.ra_delivery import notify_holder

    try:
        revocation_reason(args.reason)  # refuse a bad reason before touching the store
    except CertdeskError as exc:
        return fail(exc.message)

    async def go() -> int:
        async with cli_runtime(settings) as runtime:
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
