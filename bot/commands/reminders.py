"""``certdesk reminders run-once``: one reminder pass now, or as if at another time."""

from __future__ import annotations

import argparse
import json
import textwrap
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from bot.commands.shared import SubParsers, announce_data_dir, command, command_group, iso_datetime

if TYPE_CHECKING:
    from bot.settings import Settings
    from scheduler.run import PassReport

EPILOG = textwrap.dedent(
    """\
    --json prints one JSON object (on one line) summarising the pass:
      {"as_of": ISO 8601, "dry_run": bool, "candidates": int, "due": int,
       "sent": int, "failed": int, "undeliverable": int, "claimed_elsewhere": int,
       "seconds": float,
       "reminders": [{"certificate_id", "serial", "subject_cn", "owner_slack_user",
                      "owner_email", "not_after", "threshold_days" (0 = expired notice),
                      "kind" ("expiring"|"expired"), "days_left", "attempt",
                      "result" ("sent"|"failed"|"undeliverable"|"claimed_elsewhere"|"due"),
                      "error"}, ...]}
    "due" is the result of every reminder in a --dry-run; "claimed_elsewhere" means another
    clock claimed that reminder first.

    --as-of changes which reminders are due, not the clock used to time retries.

    Exit status: 0 when every due reminder was delivered (or claimed elsewhere); 1 when a
    delivery failed (it is recorded: a later pass retries transient failures); 2 on a usage
    or configuration error.
    """
)


def parse_as_of(text: str) -> datetime:
    """ISO 8601 with a UTC offset or Z; a naive time is refused rather than guessed."""
    value = iso_datetime(text, expected="date and time; use e.g. 2026-12-01T09:00:00Z")
    if value.tzinfo is None or value.utcoffset() is None:
        example = f"{text}Z" if "T" in text or " " in text else f"{text}T00:00:00Z"
        raise argparse.ArgumentTypeError(
            f"{text!r} has no UTC offset; add Z or an offset, e.g. {example} or "
            f"{example[:-1]}+08:00"
        )
    return value.astimezone(UTC)


def register(sub: SubParsers) -> None:
    reminders_sub = command_group(sub, "reminders", help="renewal reminders")
    once = command(
        reminders_sub,
        "run-once",
        run_once,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    once.add_argument(
        "--as-of",
        type=parse_as_of,
        metavar="DATETIME",
        help="decide as if it were DATETIME (ISO 8601 with Z or an offset, e.g. "
        "2026-12-01T09:00:00Z)",
    )
    once.add_argument(
        "--dry-run", action="store_true", help="show what is due; claim and send nothing"
    )
    once.add_argument("--json", action="store_true", help="print one JSON object (see below)")


def run_once(args: argparse.Namespace, settings: Settings) -> int:
    """run one reminder pass now (or as if at --as-of)

    Run one reminder pass: find the certificates due a reminder, claim each reminder in the
    database, send it (Slack, or the log and local outbox when Slack is off) and record the outcome.
    Safe to run beside `certdesk clock` and `certdesk serve`.
    """
    import asyncio

    from bot.reminders import open_reminders

    async def go() -> PassReport:
        async with open_reminders(settings) as runner:
            announce_data_dir(settings.data_dir)
            return await runner.run_pass(as_of=args.as_of, dry_run=args.dry_run)

    report = asyncio.run(go())
    if args.json:
        print(json.dumps(report.as_dict(), ensure_ascii=False))
    else:
        print_report(report)
    return 1 if report.delivery_failed else 0


def print_report(report: PassReport) -> None:
    from scheduler.run import Result

    print(
        f"As of {report.as_of:%Y-%m-%d %H:%M} UTC: {report.candidates} certificate(s) near "
        f"expiry not yet reminded, {len(report.results)} reminder(s) due"
        + (" (dry run: nothing claimed or sent)." if report.dry_run else ".")
    )
    for item in report.results:
        reminder = item.reminder
        cert = reminder.certificate
        what = (
            "expired notice"
            if reminder.threshold_days == 0
            else f"{reminder.threshold_days}-day reminder"
        )
        owner = cert.owner_slack_user or cert.owner_email or "no owner"
        line = (
            f"  {item.result:<17} {what:<16} {cert.serial}  {cert.subject_cn} ({owner}), "
            f"expires {cert.not_after:%Y-%m-%d %H:%M} UTC"
        )
        if item.error:
            line += f": {item.error}"
        print(line)
    if not report.dry_run:
        print(
            f"Sent {report.count(Result.SENT)}, failed {report.count(Result.FAILED)} (retried "
            f"later), undeliverable {report.count(Result.UNDELIVERABLE)}, claimed elsewhere "
            f"{report.count(Result.CLAIMED_ELSEWHERE)}."
        )
