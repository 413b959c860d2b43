"""`certdesk ra status|list|stats` and `ra issue --from-csv` against the store the server uses,
on SQLite and PostgreSQL; the refusal to create data in an empty directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select

from bot.runtime import Runtime
from enrollment.db import session_factory
from enrollment.models import AuditEvent, Enrollment
from enrollment.services import EnrollmentCreate, Services
from tests.enrollment.conftest import enroll_and_issue
from tests.support.processes import Cli, base_env
from tests.support.store import count_rows, enrollment_row, snapshot


def lines(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


async def audited(engine: AsyncEngine, action: str) -> list[AuditEvent]:
    async with session_factory(engine)() as session:
        statement = select(AuditEvent).where(col(AuditEvent.action) == action)
        return list((await session.execute(statement)).scalars().all())


async def test_ra_status_list_and_stats_show_the_store_and_are_audited(
    runtime: Runtime, cli: Cli, services: Services, database_url: str, tmp_path: Path
) -> None:
    env = {"CERTDESK_DATABASE_URL": database_url}
    issued = await enroll_and_issue(services, tmp_path)
    made = cli(
        "ra", "issue", "--cn", "Waiting Holder", "--email", "wait@example.com", "--json", env=env
    )
    assert made.returncode == 0, made.stderr
    waiting = json.loads(made.stdout)["reference_number"]

    by_reference = cli("ra", "status", waiting, "--json", env=env)
    assert by_reference.returncode == 0, by_reference.stderr
    assert f"data directory {runtime.settings.data_dir.resolve()}" in by_reference.stderr
    enrollment = json.loads(by_reference.stdout)["enrollment"]
    assert enrollment["status"] == "pending"
    assert (enrollment["cn"], enrollment["email"]) == ("Waiting Holder", "wait@example.com")

    by_email = json.loads(
        cli("ra", "status", "--email", "WAIT@example.com", "--json", env=env).stdout
    )
    assert [e["reference_number"] for e in by_email["pending"]] == [waiting]
    by_user = json.loads(cli("ra", "status", "--slack-user", "U0HOLDER", "--json", env=env).stdout)
    assert [c["serial"] for c in by_user["certificates"]] == [issued.serial]
    assert by_user["certificates"][0]["ous"] == ["Branch 01", "RA Shanghai"]
    unknown = cli("ra", "status", "0000000000", env=env)
    assert unknown.returncode == 1
    assert "no enrollment has the reference number" in unknown.stderr

    pending = lines(cli("ra", "list", "--json", env=env).stdout)
    assert [item["reference_number"] for item in pending] == [waiting]
    done = lines(cli("ra", "list", "--status", "issued", "--json", env=env).stdout)
    assert [item["reference_number"] for item in done] == [issued.created.reference_number]
    soon = lines(cli("ra", "list", "--expiring-within", "400", "--json", env=env).stdout)
    assert [item["serial"] for item in soon] == [issued.serial]
    assert lines(cli("ra", "list", "--expiring-within", "2", "--json", env=env).stdout) == []
    text = cli("ra", "list", "--expiring-within", "400", env=env)
    assert issued.serial in text.stdout
    assert "Test Holder 01" in text.stdout

    stats = cli("ra", "stats", "--json", env=env)
    assert stats.returncode == 0, stats.stderr
    numbers = json.loads(stats.stdout)
    assert numbers["enrollments_pending"] == 1
    assert numbers["enrollments_issued"] == 1
    assert numbers["certificates_active"] == 1
    assert "1 waiting" in cli("ra", "stats", env=env).stdout

    statuses = await audited(runtime.engine, "ra.status")
    assert len(statuses) == 4
    assert {event.target for event in statuses} == {
        waiting,
        "WAIT@example.com",
        "U0HOLDER",
        "0000000000",
    }
    assert all(event.actor.startswith("cli:") for event in statuses)
    assert len(await audited(runtime.engine, "ra.list")) == 5
    assert len(await audited(runtime.engine, "ra.stats")) == 2


async def test_ra_status_needs_exactly_one_holder(cli: Cli) -> None:
    both = cli("ra", "status", "123", "--email", "a@example.com")
    assert both.returncode == 1
    assert "exactly one of REFERENCE, --email E or --slack-user U" in both.stderr


def test_ra_issue_names_the_option_that_is_wrong(cli: Cli) -> None:
    empty = cli("ra", "issue", "--cn", "", "--ou", "x" * 65, "--email", "bad")
    assert empty.returncode == 1, empty.stderr
    assert "--cn: must not be empty" in empty.stderr
    assert "--ou: each OU must have 1 to 64 characters" in empty.stderr
    assert "--email: 'bad' is not an e-mail address" in empty.stderr
    assert "Value error" not in empty.stderr
    needs_mail = cli("ra", "issue", "--cn", "Holder", "--profile", "smime")
    assert "profile 'smime' needs an e-mail address" in needs_mail.stderr


CSV = """cn,ou,o,email,slack_user,profile,notify
Holder One,Branch 01;RA Shanghai,Acme Bank,one@example.com,,,email
Holder Two,,,,U0TWO,,slack
Holder Three,Branch 3,,three@example.com,U0THREE,smime,both
"""


async def test_ra_issue_from_csv_creates_every_row_and_reports_json_lines(
    runtime: Runtime, cli: Cli, database_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "holders.csv"
    path.write_text(CSV, encoding="utf-8")
    result = cli(
        "ra", "issue", "--from-csv", str(path), env={"CERTDESK_DATABASE_URL": database_url}
    )
    assert result.returncode == 0, result.stderr
    reported = lines(result.stdout)
    assert [(r["row"], r["cn"], r["notify"]) for r in reported] == [
        (2, "Holder One", "email"),
        (3, "Holder Two", "slack"),
        (4, "Holder Three", "both"),
    ]
    assert all(r["link"].startswith("http://certdesk.test/enroll/") for r in reported)
    assert all({"reference_number", "authorization_code", "expires_at"} <= set(r) for r in reported)
    first = await enrollment_row(runtime.engine, reported[0]["reference_number"])
    assert first.subject_ous == ["Branch 01", "RA Shanghai"]
    assert (first.subject_o, first.email) == ("Acme Bank", "one@example.com")
    third = await enrollment_row(runtime.engine, reported[2]["reference_number"])
    assert (third.profile, third.slack_user) == ("smime", "U0THREE")
    assert len(await audited(runtime.engine, "enrollment.create")) == 3


async def test_ra_issue_from_csv_with_one_bad_row_creates_nothing(
    runtime: Runtime, cli: Cli, database_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "holders.csv"
    bad = CSV + "Holder Four,,,not-an-address,,,\nHolder Five,,,,,,fax\n"
    path.write_text(bad, encoding="utf-8")
    before = await snapshot(runtime)
    result = cli(
        "ra", "issue", "--from-csv", str(path), env={"CERTDESK_DATABASE_URL": database_url}
    )
    assert result.returncode == 1
    assert "row 5, column email" in result.stderr
    assert "row 6, column notify" in result.stderr
    assert "nothing was created" in result.stderr
    assert result.stdout == ""
    assert await snapshot(runtime) == before


async def test_ra_issue_from_csv_refuses_unknown_columns_and_notify_without_address(
    runtime: Runtime, cli: Cli, tmp_path: Path
) -> None:
    unknown = tmp_path / "unknown.csv"
    unknown.write_text("cn,phone\nHolder,123\n", encoding="utf-8")
    result = cli("ra", "issue", "--from-csv", str(unknown))
    assert result.returncode == 1
    assert "unknown column(s) phone" in result.stderr
    no_address = tmp_path / "no-address.csv"
    no_address.write_text("cn,notify\nHolder,email\n", encoding="utf-8")
    result = cli("ra", "issue", "--from-csv", str(no_address))
    assert result.returncode == 1
    assert "row 2, column notify: email needs an email" in result.stderr
    mixed = cli("ra", "issue", "--from-csv", str(no_address), "--email", "a@example.com")
    assert mixed.returncode == 1
    assert "--from-csv takes every holder's fields from the file" in mixed.stderr
    assert await count_rows(runtime.engine, Enrollment) == 0


def test_ra_issue_in_an_empty_directory_refuses_and_creates_nothing(tmp_path: Path) -> None:
    """Acceptance 4: no CERTDESK_DATA_DIR, an empty working directory: non-zero, nothing made."""
    env = base_env(tmp_path / "unused")
    del env["CERTDESK_DATA_DIR"]
    for argv in (["ra", "issue", "--cn", "X"], ["ra", "stats"], ["reminders", "run-once"]):
        result = subprocess.run(
            [sys.executable, "-m", "bot.cli", *argv],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=120,
        )
        assert result.returncode != 0, (argv, result.stdout)
        assert f"no certdesk data in {tmp_path / 'var'}" in result.stderr
        assert "CERTDESK_DATA_DIR" in result.stderr
        assert "certdesk init" in result.stderr
        assert "Traceback" not in result.stderr
        assert os.listdir(tmp_path) == []


def test_init_creates_the_data_then_changes_nothing(
    bare_cli: Cli, data_dir: Path, database_url: str
) -> None:
    env = {"CERTDESK_DATABASE_URL": database_url}
    first = bare_cli("init", "--json", env=env)
    assert first.returncode == 0, first.stderr
    facts = json.loads(first.stdout)
    assert facts["data_dir"] == str(data_dir.resolve())
    assert facts["ca_subject"].startswith("CN=")
    assert "the CA (ca/issuing.pem)" in facts["created"]
    assert ("the database certdesk.db" in facts["created"]) == database_url.startswith("sqlite")
    assert (data_dir / "ca" / "issuing.pem").exists()
    key = (data_dir / "secret.key").read_bytes()
    again = bare_cli("init", env=env)
    assert again.returncode == 0, again.stderr
    assert "already initialised" in again.stdout
    assert facts["ca_fingerprint_sha256"] in again.stdout
    assert (data_dir / "secret.key").read_bytes() == key
    issued = bare_cli("ra", "issue", "--cn", "After Init", env=env)  # the schema is there too
    assert issued.returncode == 0, issued.stderr


async def test_create_enrollments_stores_none_when_the_database_refuses_one_midway(
    runtime: Runtime,
) -> None:
    """The CSV's one transaction: the third row fails in the database (NOT NULL, past the
    validation a CSV row gets), and the two before it are not stored either."""
    good = [EnrollmentCreate(cn=f"Holder {n}") for n in range(2)]
    broken = EnrollmentCreate.model_construct(
        cn=None, ous=[], o=None, email=None, slack_user=None, profile="client"
    )
    before = await snapshot(runtime)
    with pytest.raises((IntegrityError, RuntimeError)):
        await runtime.services.ra.create_enrollments([*good, broken], actor="test")
    assert await snapshot(runtime) == before
