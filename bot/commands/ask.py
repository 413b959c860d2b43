"""``certdesk ask``: answer a question from the knowledge base.

``certdesk ask "QUESTION" [--json]`` answers one question; ``certdesk ask [--json] -`` reads one
question a line from standard input and writes one answer (``--json``: one JSON object) a line.
``--json`` prints ``{"id": str or null, "score": float, "answer": str}``; ``id`` null means not
confident. Questions without a confident answer are stored for RA staff to review.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

from bot.commands.shared import SubParsers, command
from common.language import LANGUAGES, Lang

if TYPE_CHECKING:
    import asyncio

    from sqlalchemy.ext.asyncio import AsyncEngine

    from bot.settings import Settings
    from bot.unanswered import SqlUnansweredLog
    from faq.knowledge import Answer

SOURCE = "cli"


def register(sub: SubParsers) -> None:
    parser = command(sub, "ask", run_ask)
    parser.set_defaults(end_now=True)  # nothing stays open: see bot.cli.end_now
    parser.add_argument(
        "question",
        metavar="QUESTION",
        help='the question, or "-" to read one question a line from standard input',
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object per answer")
    parser.add_argument(
        "--language", choices=LANGUAGES, help="answer in this language (default: the question's)"
    )


def run_ask(args: argparse.Namespace, settings: Settings) -> int:
    """answer a question from the knowledge base"""
    import asyncio

    from faq.knowledge import KnowledgeBase

    kb = KnowledgeBase.load(operator_dir=settings.knowledge_dir, cache_dir=settings.cache_dir)
    language: Lang | None = args.language
    with asyncio.Runner() as runner, _Store(settings, runner) as store:
        for question in _questions(args.question):
            answer = kb.ask(question, language=language)
            print(_format(answer, as_json=args.json, batch=args.question == "-"), flush=True)
            if answer.id is None and answer.question.strip():  # not confident or "did you mean"
                store.record(answer)
    return 0


def _questions(argument: str) -> Iterator[str]:
    if argument != "-":
        yield argument
        return
    for line in sys.stdin:
        yield line.rstrip("\r\n")


def _format(answer: Answer, *, as_json: bool, batch: bool) -> str:
    if as_json:
        return json.dumps(answer.to_json(), ensure_ascii=False)
    return f"{answer.text}\n" if batch else answer.text


class _Store:
    """Opens the database on the first unanswered question; a failure to store is reported on
    standard error once and does not stop the answers."""

    def __init__(self, settings: Settings, runner: asyncio.Runner) -> None:
        self._settings = settings
        self._runner = runner
        self._engine: AsyncEngine | None = None
        self._store: SqlUnansweredLog | None = None
        self._broken = False

    def __enter__(self) -> _Store:
        return self

    def __exit__(self, *_: object) -> None:
        if self._engine is not None:
            self._runner.run(self._engine.dispose())

    def record(self, answer: Answer) -> None:
        if self._broken:
            return
        from sqlalchemy.exc import SQLAlchemyError  # only now: a confident answer stores nothing

        from bot.database import SchemaOutOfDate
        from common.errors import CertdeskError

        try:
            self._runner.run(self._record(answer))
        except (SchemaOutOfDate, CertdeskError, SQLAlchemyError, OSError) as exc:
            self._broken = True
            print(f"certdesk: could not store the unanswered question: {exc}", file=sys.stderr)

    async def _record(self, answer: Answer) -> None:
        from bot.commands.shared import announce_data_dir
        from bot.datadir import prepare_data_dir, require_data
        from bot.runtime import prepare_schema
        from bot.unanswered import SqlUnansweredLog
        from enrollment.db import create_engine

        if self._store is None:
            settings = self._settings
            require_data(settings, needs_ca=False)  # never a new database beside the real one
            prepare_data_dir(settings.data_dir, database_url=settings.database_url)
            announce_data_dir(settings.data_dir)
            self._engine = create_engine(settings.database_url)
            await prepare_schema(settings, self._engine)
            self._store = SqlUnansweredLog(self._engine)
        await self._store.record(
            answer.question,
            lang=answer.language,
            best_id=answer.best_id,
            score=answer.score,
            source=SOURCE,
        )
