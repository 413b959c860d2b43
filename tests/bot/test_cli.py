"""The `certdesk` command line: ra issue / unlock, db upgrade."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.support.processes import Cli


def test_ra_issue_json_prints_the_link_and_its_expiry(cli: Cli) -> None:
    result = cli(
        "ra",
        "issue",
        "--cn",
        "Test Holder 01",
        "--ou",
        "Branch 01",
        "--ou",
        "RA Shanghai",
        "--o",
        "Acme Bank",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) == {"reference_number", "authorization_code", "link", "expires_at"}
    assert data["reference_number"].isdigit()
    expires = datetime.fromisoformat(data["expires_at"])
    assert timedelta(hours=71) < expires - datetime.now(UTC) <= timedelta(hours=72)
    assert data["link"].startswith("http://certdesk.test/enroll/")
    assert data["authorization_code"] not in result.stderr


def test_ra_issue_text_output_is_readable(cli: Cli) -> None:
    result = cli("ra", "issue", "--cn", "Test Holder 01")
    assert result.returncode == 0, result.stderr
    assert "Reference number:" in result.stdout
    assert "One-time link:" in result.stdout


def test_ra_issue_refuses_invalid_input_with_message(cli: Cli) -> None:
    result = cli("ra", "issue", "--cn", "  ", "--email", "not-an-address")
    assert result.returncode == 1
    assert "cn" in result.stderr
    assert "email" in result.stderr
    assert "Traceback" not in result.stderr


def test_ra_issue_smime_profile_needs_email(cli: Cli) -> None:
    result = cli("ra", "issue", "--cn", "X", "--profile", "smime")
    assert result.returncode == 1
    assert "e-mail" in result.stderr


def test_ra_unlock_unknown_reference_fails_clearly(cli: Cli) -> None:
    result = cli("ra", "unlock", "0000000000")
    assert result.returncode == 1
    assert "No enrollment has the reference number" in result.stderr


def test_db_upgrade_creates_schema_in_fresh_directory(bare_cli: Cli, data_dir: Path) -> None:
    result = bare_cli("db", "upgrade")
    assert result.returncode == 0, result.stderr
    assert (data_dir / "certdesk.db").exists()


def test_console_script_is_installed() -> None:
    assert shutil.which("certdesk") or Path(".venv/bin/certdesk").exists()


def test_bad_configuration_is_reported_before_anything_runs(cli: Cli) -> None:
    result = cli("ra", "issue", "--cn", "X", env={"CERTDESK_PUBLIC_URL": "ftp://nope"})
    assert result.returncode == 2
    assert "CERTDESK_PUBLIC_URL must start with http" in result.stderr
