"""``certdesk faq``: an RA's own knowledge entries: check them, review the questions the bot
could not answer, teach one to an entry."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from bot.commands.shared import SubParsers, cli_runtime, command, command_group, fail, iso_datetime

if TYPE_CHECKING:
    from bot.settings import Settings

CHECK_EPILOG = """exit status: 0 no collision and every language written; 1 problems found
(collisions or missing translations); 2 an entry file is broken (the line names it)."""


def register(sub: SubParsers) -> None:
    faq = command_group(sub, "faq", help="the knowledge entries: check, review, teach")

    check = command(faq, "check", run_check, epilog=CHECK_EPILOG)
    check.add_argument(
        "directory",
        nargs="?",
        type=Path,
        metavar="DIR",
        help="operator entries to check with the shipped ones (default $CERTDESK_KNOWLEDGE_DIR)",
    )
    check.add_argument("--json", action="store_true", help="print one JSON object")

    unanswered = command(faq, "unanswered", run_unanswered)
    unanswered.add_argument(
        "--since",
        type=_date,
        metavar="DATE",
        help="only questions asked since DATE (ISO 8601, e.g. 2026-11-01)",
    )
    unanswered.add_argument("--json", action="store_true", help="print one JSON object")

    teach = command(faq, "teach", run_teach)
    teach.add_argument("entry", metavar="ID", help="the entry that should answer it")
    teach.add_argument("question", metavar="QUESTION", help="the question, as holders asked it")
    teach.add_argument(
        "--lang", choices=("en", "zh"), help="the question's language (default: detected)"
    )
    teach.add_argument("--json", action="store_true", help="print one JSON object")


def _date(value: str) -> datetime:
    moment = iso_datetime(value, expected="date such as 2026-11-01")
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def run_check(args: argparse.Namespace, settings: Settings) -> int:
    """validate entries; report collisions, missing translations, thin entries"""
    from faq.check import RECOMMENDED_QUESTIONS, check
    from faq.errors import FaqError
    from faq.knowledge import KnowledgeBase

    directory = args.directory or settings.knowledge_dir
    try:
        cache = settings.cache_dir if settings.data_dir.is_dir() else None  # create no data dir
        kb = KnowledgeBase.load(operator_dir=directory, cache_dir=cache)
    except FaqError as error:
        print(f"certdesk: {error.message}")
        return 2
    report = check(kb)
    if args.json:
        print(json.dumps({"directory": str(directory) if directory else None, **report.to_json()}))
        return 0 if report.clean else 1
    where = f"shipped entries + {directory}" if directory else "shipped entries"
    print(f"{report.entries} entries ({where}): every file is valid.")
    for collision in report.collisions:
        print(
            f"collision: {collision.entry_id} ({collision.language}) example "
            f"{collision.question!r} is answered by {collision.answered_by} "
            f"(score {collision.score:.2f}): reword it, or move it to {collision.answered_by}"
        )
    for entry_id, languages in report.untranslated.items():
        print(
            f"missing translation: {entry_id} has no [{'], ['.join(languages)}] table "
            "(its answer falls back to another language)"
        )
    for entry_id, counts in report.few_examples.items():
        for language, count in counts.items():
            print(
                f"few examples: {entry_id} ({language}) has {count}; with at least "
                f"{RECOMMENDED_QUESTIONS} it answers paraphrases, not only near-verbatim questions"
            )
    if report.clean and not report.few_examples:
        print("No collisions, every language written.")
    return 0 if report.clean else 1


def run_unanswered(args: argparse.Namespace, settings: Settings) -> int:
    """questions the bot could not answer, grouped, most asked first"""
    import asyncio

    from bot.knowledge import knowledge_base
    from bot.unanswered import SqlUnansweredLog
    from faq.review import group_questions

    async def go() -> int:
        async with cli_runtime(settings) as runtime:
            rows = await SqlUnansweredLog(runtime.engine).waiting(since=args.since)
        kb = await asyncio.to_thread(knowledge_base, settings)
        groups = group_questions(rows, kb)
        if args.json:
            print(json.dumps({"questions": [group.to_json() for group in groups]}))
            return 0
        if not groups:
            print("No unanswered questions are waiting for review.")
            return 0
        for group in groups:
            near = f"{group.near_miss} ({group.near_miss_score:.2f})" if group.near_miss else "-"
            print(f"{group.count:>4}×  {group.question}")
            print(
                f"       near miss: {near}; asked in {', '.join(group.sources)}, last "
                f"{group.last_asked:%Y-%m-%d %H:%M} UTC"
            )
        print('Teach one with: certdesk faq teach ID "QUESTION"')
        return 0

    return asyncio.run(go())


def run_teach(args: argparse.Namespace, settings: Settings) -> int:
    """add a question to an entry's examples (in $CERTDESK_KNOWLEDGE_DIR)"""
    import asyncio

    from bot.commands.ra import actor
    from bot.teaching import NO_KNOWLEDGE_DIR, teach
    from bot.unanswered import SqlUnansweredLog
    from common.errors import CertdeskError

    if settings.knowledge_dir is None:  # before touching the data directory
        return fail(NO_KNOWLEDGE_DIR)

    async def go() -> int:
        async with cli_runtime(settings) as runtime:
            try:
                taught = await teach(
                    settings,
                    unanswered=SqlUnansweredLog(runtime.engine),
                    auditor=runtime.services.ra,
                    entry_id=args.entry,
                    question=args.question,
                    actor=actor(),
                    language=args.lang,
                )
            except CertdeskError as error:
                return fail(error.message)
        if args.json:
            print(json.dumps(taught.to_json()))
            return 0
        copied = " (copied from the shipped entry first)" if taught.copied else ""
        done = "Added" if taught.added else "Already an example:"
        print(
            f"{done} {taught.question!r} ({taught.language}) to {taught.entry_id} in "
            f"{taught.path}{copied}."
        )
        if taught.answered_by == taught.entry_id:
            print(f"It is now answered by {taught.entry_id}.")
        else:
            now = taught.answered_by or "no entry with confidence"
            print(
                f"Note: it is still answered by {now}; add more examples like it, "
                "and run certdesk faq check."
            )
        print(
            f"A running server picks it up within {settings.knowledge_reload_seconds} s, "
            "or at once on SIGHUP."
        )
        return 0

    return asyncio.run(go())
