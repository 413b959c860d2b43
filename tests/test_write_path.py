"""Every write goes through the one writer (enrollment/writer.py): no other module of the
server opens a transaction of its own.

A static check over the source: on SQLite any transaction that is not marked read-only begins
with ``BEGIN IMMEDIATE`` (enrollment/db.py), so a session, ``engine.begin()``,
``engine.connect()`` or ``commit()`` outside the writer is a second writer fighting the first
one over the busy timeout. Reads use ``enrollment/reads.py`` (or ``Store.read()``), writes
``store.write()`` / ``writes_for(engine).unit()``.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ROOMS = ("enrollment", "bot", "scheduler")

# Where a transaction of its own is the point, and why (ARCHITECTURE.md says the same).
OWN_TRANSACTIONS = {
    "enrollment/writer.py": "the writer itself",
    "enrollment/db.py": "the engine: BEGIN IMMEDIATE or a deferred BEGIN for reads",
    "enrollment/reads.py": "read-only sessions and connections (deferred BEGIN, no write lock)",
    "bot/migrations/env.py": "Alembic runs the schema's DDL in its own transaction, before serving",
}

# Calls that open a session or transaction (by the called name) ...
OPENERS = {"session_factory", "async_sessionmaker", "sessionmaker", "AsyncSession"}
# ... or that begin or end one on whatever they are called on.
TRANSACTION_METHODS = {"begin", "begin_nested", "commit", "sessions"}


def _called_name(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return None


def own_transactions(source: str, filename: str = "<source>") -> list[str]:
    """Each place in ``source`` that opens a transaction of its own, as ``line: code``."""
    return [
        f"{node.lineno}: {ast.unparse(node)}"
        for node in ast.walk(ast.parse(source, filename=filename))
        if isinstance(node, ast.Call) and _opens_transaction(node)
    ]


def _opens_transaction(call: ast.Call) -> bool:
    name = _called_name(call)
    method = isinstance(call.func, ast.Attribute)
    if name in OPENERS or (method and name in TRANSACTION_METHODS):
        return True
    if method and name == "connect":  # an engine's, not a socket's, SMTP's or Socket Mode's
        assert isinstance(call.func, ast.Attribute)
        return ast.unparse(call.func.value).endswith("engine")
    return name in ("exec_driver_sql", "text") and _says_begin(call)


def _says_begin(call: ast.Call) -> bool:
    return any(
        isinstance(arg, ast.Constant)
        and isinstance(arg.value, str)
        and arg.value.strip().upper().startswith("BEGIN")
        for arg in call.args
    )


def test_no_module_outside_the_writer_opens_a_write_transaction() -> None:
    offenders = {}
    for room in ROOMS:
        for path in sorted((ROOT / room).rglob("*.py")):
            name = str(path.relative_to(ROOT))
            if name in OWN_TRANSACTIONS:
                continue
            found = own_transactions(path.read_text(), name)
            if found:
                offenders[name] = found
    assert offenders == {}, (
        "write through store.write() / writes_for(engine).unit(), read through "
        "enrollment/reads.py or Store.read()"
    )


def test_the_allowed_modules_exist() -> None:
    """An allowance for a file that is gone would silently allow its successor."""
    assert [name for name in OWN_TRANSACTIONS if not (ROOT / name).is_file()] == []


def test_the_check_finds_each_way_of_opening_a_transaction() -> None:
    source = """
async def f(engine, store, sessions, session, connection):
    async with engine.begin() as c: ...
    async with self._engine.connect() as c: ...
    async with store.sessions() as s, s.begin(): ...
    async with session_factory(engine)() as s: ...
    s = AsyncSession(engine)
    await session.commit()
    await connection.exec_driver_sql("BEGIN IMMEDIATE")
    await connection.execute(text("begin"))
    await smtp.connect()
    async with read_session(engine) as s: ...
    async with store.write() as s: ...
"""
    lines = sorted(int(place.split(":")[0]) for place in own_transactions(source))
    assert lines == [3, 4, 5, 5, 6, 7, 8, 9, 10]
