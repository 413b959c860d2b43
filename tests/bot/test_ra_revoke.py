"""`certdesk ra revoke` against the same store the server uses."""

from __future__ import annotations

from pathlib import Path

from bot.runtime import Runtime
from enrollment.services import Services
from tests.enrollment.conftest import enroll_and_issue
from tests.support.processes import Cli
from tests.support.store import certificate_row, certificate_view


async def test_ra_revoke_marks_certificate_revoked_and_audits(
    runtime: Runtime, cli: Cli, services: Services, database_url: str, tmp_path: Path
) -> None:
    issued = await enroll_and_issue(services, tmp_path)
    colon_serial = ":".join(issued.serial[i : i + 2] for i in range(0, len(issued.serial), 2))
    result = cli(
        "ra",
        "revoke",
        colon_serial.upper(),
        "--reason",
        "keyCompromise",
        env={"CERTDESK_DATABASE_URL": database_url},
    )
    assert result.returncode == 0, result.stderr
    assert f"Certificate {issued.serial}" in result.stdout
    assert "keyCompromise" in result.stdout
    cert = await certificate_row(runtime.engine, issued.serial)
    assert cert.status == "revoked"
    assert cert.revocation_reason == "keyCompromise"


async def test_ra_revoke_explains_unknown_serial_and_reason(
    runtime: Runtime, cli: Cli, services: Services, database_url: str, tmp_path: Path
) -> None:
    issued = await enroll_and_issue(services, tmp_path)
    env = {"CERTDESK_DATABASE_URL": database_url}
    unknown = cli("ra", "revoke", "abc123", "--reason", "superseded", env=env)
    assert unknown.returncode == 1
    assert "No certificate has the serial number" in unknown.stderr
    bad_reason = cli("ra", "revoke", issued.serial, "--reason", "whim", env=env)
    assert bad_reason.returncode == 1
    assert "cessationOfOperation" in bad_reason.stderr
    assert (await certificate_view(runtime.engine, issued.serial)).status == "active"
