"""The reminder pass's selection (scheduler/run.py:due_candidates, and the whole window
``candidates``) is answered from the index ``ix_certificate_status_not_after`` on both
databases, as the database's own EXPLAIN says; the records from the unique
(certificate, threshold) index."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement, Executable

from common.time import utcnow
from scheduler.policy import ReminderPolicy
from scheduler.run import candidates, due_candidates

INDEX = "ix_certificate_status_not_after"


class Explain(Executable, ClauseElement):
    """``EXPLAIN`` (SQLite: ``EXPLAIN QUERY PLAN``) of a statement, with its bound values."""

    inherit_cache = False

    def __init__(self, statement: sa.Select[Any]) -> None:
        self.statement = statement


@compiles(Explain)
def _explain(element: Explain, compiler: SQLCompiler, **kw: Any) -> str:
    prefix = "EXPLAIN QUERY PLAN " if compiler.dialect.name == "sqlite" else "EXPLAIN "
    return prefix + compiler.process(element.statement, **kw)


def window() -> sa.Select[Any]:
    now = utcnow()
    return candidates(now - timedelta(days=30), now + timedelta(days=60))


async def plan(engine: AsyncEngine, query: sa.Select[Any]) -> str:
    async with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            # An empty table is cheapest to scan whole; forbid that to see what the planner
            # can use for the query (a query the index cannot serve would still seq-scan).
            await connection.execute(sa.text("SET LOCAL enable_seqscan = off"))
        rows = (await connection.execute(Explain(query))).all()
    return "\n".join(" ".join(str(value) for value in row) for row in rows)


async def test_candidate_selection_uses_the_status_not_after_index(engine: AsyncEngine) -> None:
    explained = await plan(engine, window())
    assert INDEX in explained, explained
    if engine.dialect.name == "sqlite":
        assert "SEARCH" in explained, explained
        assert "not_after>?" in explained, explained
    else:
        assert "Index Cond" in explained, explained
        assert "not_after" in explained, explained


async def test_due_selection_uses_the_index_and_the_record_index(engine: AsyncEngine) -> None:
    explained = await plan(engine, due_candidates(utcnow(), policy=ReminderPolicy()))
    assert INDEX in explained, explained
    if engine.dialect.name == "sqlite":  # the unique constraint is SQLite's autoindex
        assert "SEARCH certificate USING INDEX" in explained, explained
        assert "SEARCH at_threshold USING INDEX" in explained, explained
        assert "SEARCH settled USING INDEX" in explained, explained
    else:
        assert "Index Cond" in explained, explained
        assert "uq_reminder_sent_certificate_threshold" in explained, explained
