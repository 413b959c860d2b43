"""``certdesk ra status|list|stats``: what RA staff look up, from the same reads as Slack's
``/ra`` (:mod:`bot.ra_views`), audited like them (``ra.status``, ``ra.list``, ``ra.stats``)."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from bot.commands.shared import SubParsers, cli_runtime, command, fail

if TYPE_CHECKING:
    from datetime import datetime

    from bot.ra_views import HolderStatus
    from bot.runtime import Runtime
    from bot.settings import Settings

ENROLLMENT_STATES = ("pending", "locked", "issued", "cancelled")
CERTIFICATE_STATES = ("active", "superseded", "revoked")
DEFAULT_LIST_LIMIT = 200


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of days of 1 or more")
    return value


def register(ra_sub: SubParsers) -> None:
    status = command(ra_sub, "status", run_status)
    status.add_argument(
        "reference", metavar="REFERENCE", nargs="?", help="the enrollment's reference number"
    )
    status.add_argument("--email", metavar="E", help="the holder's registered e-mail address")
    status.add_argument("--slack-user", metavar="U", help="the holder's Slack user ID")
    status.add_argument("--json", action="store_true", help="print one JSON object")

    listing = command(ra_sub, "list", run_list)
    listing.add_argument(
        "--status",
        metavar="S",
        choices=(*ENROLLMENT_STATES, *CERTIFICATE_STATES),
        help=f"enrollments: {', '.join(ENROLLMENT_STATES)}; certificates: "
        f"{', '.join(CERTIFICATE_STATES)}",
    )
    listing.add_argument(
        "--expiring-within",
        metavar="DAYS",
        type=_positive,
        help="certificates still valid that expire within DAYS days",
    )
    listing.add_argument(
        "--limit",
        type=_positive,
        default=DEFAULT_LIST_LIMIT,
        help=f"at most this many lines (default {DEFAULT_LIST_LIMIT})",
    )
    listing.add_argument("--json", action="store_true", help="print one JSON object a line")

    stats = command(ra_sub, "stats", run_stats)
    stats.add_argument("--json", action="store_true", help="print one JSON object")


def run_status(args: argparse.Namespace, settings: Settings) -> int:
    """one enrollment by reference number, or a holder's certificates and enrollments"""
    import asyncio

    given = [value for value in (args.reference, args.email, args.slack_user) if value]
    if len(given) != 1:
        return fail("give exactly one of REFERENCE, --email E or --slack-user U")

    async def go() -> int:
        async with cli_runtime(settings) as runtime:
            return await _status(runtime, args)

    return asyncio.run(go())


async def _status(runtime: Runtime, args: argparse.Namespace) -> int:
    from bot.commands.ra import actor
    from bot.ra_views import certificate_json, enrollment_json, holder_status
    from common.time import utcnow
    from enrollment.queries import EnrollmentQueries

    queries = EnrollmentQueries(engine=runtime.engine)
    ra = runtime.services.ra
    now = utcnow()
    if args.reference:
        await ra.audit(actor=actor(), action="ra.status", target=args.reference[:128])
        enrollment = await queries.enrollment(args.reference)
        if enrollment is None:
            return fail(
                f"no enrollment has the reference number {args.reference!r}; check the number, "
                "or look the holder up with --email or --slack-user"
            )
        if args.json:
            print(json.dumps({"enrollment": enrollment_json(enrollment)}, ensure_ascii=False))
        else:
            print(_enrollment_line(enrollment_json(enrollment)))
        return 0
    holder = args.slack_user or args.email
    await ra.audit(actor=actor(), action="ra.status", target=holder[:128])
    found = await holder_status(queries, slack_user=args.slack_user, email=args.email)
    if args.json:
        body = {
            "holder": holder,
            "certificates": [certificate_json(c, now=now) for c in found.certificates],
            "pending": [enrollment_json(e) for e in found.pending],
        }
        print(json.dumps(body, ensure_ascii=False))
    else:
        _print_holder(holder, found, now=now)
    return 0


def _print_holder(holder: str, found: HolderStatus, *, now: datetime) -> None:
    from bot.ra_views import certificate_json, enrollment_json

    print(f"{holder}: {len(found.certificates)} certificate(s), {len(found.pending)} pending")
    for cert in found.certificates:
        print(f"  {_certificate_line(certificate_json(cert, now=now))}")
    for enrollment in found.pending:
        print(f"  {_enrollment_line(enrollment_json(enrollment))}")


def _subject(item: dict[str, Any]) -> str:
    parts = [f"CN={item['cn']}", *(f"OU={ou}" for ou in item["ous"])]
    return ", ".join(parts + ([f"O={item['o']}"] if item["o"] else []))


def _enrollment_line(item: dict[str, Any]) -> str:
    holder = item["slack_user"] or item["email"] or "no holder"
    return (
        f"enrollment {item['reference_number']}  {item['status']:<9} {_subject(item)} "
        f"({holder}), created {item['created_at']}, wrong codes {item['failed_attempts']}"
    )


def _certificate_line(item: dict[str, Any]) -> str:
    owner = item["owner_slack_user"] or item["owner_email"] or "no owner"
    return (
        f"certificate {item['serial']}  {item['status']:<10} {_subject(item)} ({owner}), "
        f"valid until {item['not_after']} ({item['days_left']} days left)"
    )


def run_list(args: argparse.Namespace, settings: Settings) -> int:
    """enrollments (default: pending) or certificates, newest first

    List enrollments in a state (default pending), or certificates: those in a certificate state, or
    with --expiring-within those still valid that expire within DAYS, the soonest first.
    """
    import asyncio
    from datetime import timedelta

    from bot.commands.ra import actor
    from bot.ra_views import certificate_json, enrollment_json
    from common.time import utcnow
    from enrollment.queries import EnrollmentQueries

    if args.expiring_within is not None and args.status not in (None, "active"):
        return fail("--expiring-within lists active certificates: leave out --status or use active")
    certificates = args.expiring_within is not None or args.status in CERTIFICATE_STATES

    async def go() -> list[dict[str, Any]]:
        async with cli_runtime(settings) as runtime:
            queries = EnrollmentQueries(engine=runtime.engine)
            now = utcnow()
            detail = {"status": args.status, "expiring_within": args.expiring_within}
            await runtime.services.ra.audit(actor=actor(), action="ra.list", detail=detail)
            if certificates:
                within = args.expiring_within
                found = await queries.certificates_with_status(
                    args.status or ("active" if within else None),
                    expiring_within=timedelta(days=within) if within else None,
                    now=now,
                    limit=args.limit,
                )
                return [certificate_json(c, now=now) for c in found]
            views = await queries.enrollments_with_status(
                args.status or "pending", limit=args.limit
            )
            return [enrollment_json(e) for e in views]

    items = asyncio.run(go())
    for item in items:
        if args.json:
            print(json.dumps(item, ensure_ascii=False))
        elif item["kind"] == "certificate":
            print(_certificate_line(item))
        else:
            print(_enrollment_line(item))
    return 0


def run_stats(args: argparse.Namespace, settings: Settings) -> int:
    """counts of enrollments, certificates and questions"""
    import asyncio

    from bot.commands.ra import actor
    from bot.escalation import Escalations
    from bot.mail.stats import failed_mail_count
    from bot.ra_views import DeskStats, desk_stats, stats_json
    from bot.unanswered import SqlUnansweredLog
    from enrollment.queries import EnrollmentQueries

    async def go() -> tuple[DeskStats, int]:
        async with cli_runtime(settings) as runtime:
            await runtime.services.ra.audit(actor=actor(), action="ra.stats")
            engine = runtime.engine
            found = await desk_stats(
                EnrollmentQueries(engine=engine),
                Escalations(engine=engine),
                SqlUnansweredLog(engine),
            )
            return found, await failed_mail_count(engine)

    found, mail_failed = asyncio.run(go())
    numbers = {**stats_json(found), "mail_undeliverable": mail_failed}
    if args.json:
        print(json.dumps(numbers))
        return 0
    print(
        f"Enrollments:  {numbers['enrollments_pending']} waiting, "
        f"{numbers['enrollments_locked']} locked, {numbers['enrollments_issued']} issued\n"
        f"Certificates: {numbers['certificates_active']} active, "
        f"{numbers['certificates_expiring']} expiring within "
        f"{numbers['expiring_within_days']} days, {numbers['certificates_revoked']} revoked\n"
        f"Questions:    {numbers['open_escalations']} open escalations, "
        f"{numbers['unanswered_questions']} unanswered\n"
        f"Mail:         {numbers['mail_undeliverable']} undeliverable"
    )
    return 0
