"""The deploy files: the systemd units and the compose file run real certdesk commands, with
the settings docs/deploy.md names. (`docker compose` is not available here: the compose file
is parsed and checked; systemd-analyze verifies the units.)"""

from __future__ import annotations

import configparser
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.cli import build_parser
from tests.support import system
from tests.support.processes import ROOT

DEPLOY = ROOT / "deploy"
UNITS = {"certdesk-web.service": "serve", "certdesk-clock.service": "clock"}
INSTALLED = "/opt/certdesk/.venv/bin/certdesk"


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((DEPLOY / name).read_text())
    return parser


def command_of(argv: list[str]) -> str:
    """The certdesk command ``argv`` runs, as the real parser reads it."""
    args = build_parser().parse_args(argv)
    return " ".join(
        part for part in (args.command, getattr(args, f"{args.command}_command", None)) if part
    )


@pytest.mark.parametrize(("name", "command"), UNITS.items())
def test_systemd_unit_runs_the_certdesk_command(name: str, command: str) -> None:
    service = unit(name)["Service"]
    argv = shlex.split(service["ExecStart"])
    assert argv[0] == INSTALLED
    assert command_of(argv[1:]) == command
    assert service["WorkingDirectory"] == "/var/lib/certdesk"
    assert service["UMask"] == "0077"
    assert service["User"] == "certdesk"
    raw = (DEPLOY / name).read_text()
    assert "\nEnvironment=CERTDESK_DATA_DIR=/var/lib/certdesk\n" in raw


def test_web_unit_migrates_first_and_leaves_reminders_to_the_clock() -> None:
    raw = (DEPLOY / "certdesk-web.service").read_text()
    assert "Environment=CERTDESK_SERVE_REMINDERS=false" in raw
    pre = shlex.split(unit("certdesk-web.service")["Service"]["ExecStartPre"])
    assert command_of(pre[1:]) == "db upgrade"


@pytest.mark.parametrize("name", UNITS)
def test_systemd_analyze_verifies_the_unit(name: str, tmp_path: Path) -> None:
    analyze = system.binary("systemd-analyze", "systemd")
    certdesk = ROOT / ".venv" / "bin" / "certdesk"
    (tmp_path / name).write_text((DEPLOY / name).read_text().replace(INSTALLED, str(certdesk)))
    result = subprocess.run(
        [analyze, "verify", str(tmp_path / name)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return loaded


def test_compose_has_postgres_web_and_clock_running_certdesk() -> None:
    services = compose()["services"]
    assert set(services) == {"postgres", "migrate", "web", "clock"}
    assert services["postgres"]["image"].startswith("postgres:")
    assert command_of(services["migrate"]["command"][1:]) == "db upgrade"
    assert command_of(services["web"]["command"][1:]) == "serve"
    assert command_of(services["clock"]["command"][1:]) == "clock"
    for name in ("web", "clock", "migrate"):
        env = services[name]["environment"]
        assert env["CERTDESK_DATABASE_URL"].startswith("postgresql+asyncpg://certdesk:")
        assert "@postgres:5432/certdesk" in env["CERTDESK_DATABASE_URL"]
        for required in ("CERTDESK_PUBLIC_URL", "CERTDESK_SECRET_KEY"):
            assert ":?" in env[required], (name, required)  # compose refuses to start unset
        assert "certdesk-data:/data" in services[name]["volumes"]
    assert services["web"]["environment"]["CERTDESK_SERVE_REMINDERS"] == "false"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("web", "clock"):
        assert services[name]["depends_on"]["migrate"]["condition"] == (
            "service_completed_successfully"
        )


def test_compose_image_is_built_from_the_shipped_dockerfile() -> None:
    build = compose()["services"]["web"]["build"]
    dockerfile = (DEPLOY / "compose.yaml").parent / build["context"] / build["dockerfile"]
    text = dockerfile.resolve().read_text()
    assert "USER certdesk" in text
    assert "pip install --no-cache-dir ." in text
