"""Configuration and start-up errors: one line on stderr that names the variable and what to
do, never the secret it was given, never a traceback, exit status 2 (finding 12)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.support.processes import Cli, base_env

SECRET = "xoxb-super-secret-value-4242"


def run_serve(tmp_path: Path, env: dict[str, str], *args: str) -> tuple[int, str]:
    cli = Cli(base_env(tmp_path, env))
    result = cli("serve", *args)
    return result.returncode, result.stderr


def assert_one_clear_line(stderr: str, *, names: str) -> None:
    assert stderr.count("\n") == 1, stderr
    assert stderr.endswith("\n")
    assert "Traceback" not in stderr
    assert names in stderr
    assert stderr.startswith("certdesk: ")


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"SLACK_SIGNING_SECRET": SECRET}, "SLACK_BOT_TOKEN"),
        ({"SLACK_BOT_TOKEN": SECRET}, "SLACK_SIGNING_SECRET"),
        ({"CERTDESK_SECRET_KEY": SECRET}, "CERTDESK_SECRET_KEY"),
        ({"CERTDESK_METRICS_TOKEN": "short-" + SECRET[:6]}, "CERTDESK_METRICS_TOKEN"),
        ({"PORT": "eighty", "CERTDESK_SECRET_KEY": SECRET * 2}, "PORT"),
        ({"CERTDESK_METRICS_ALLOW": "10.0.0.0/8,intranet"}, "CERTDESK_METRICS_ALLOW"),
    ],
)
def test_configuration_error_is_one_line_without_the_secret(
    tmp_path: Path, env: dict[str, str], names: str
) -> None:
    code, stderr = run_serve(tmp_path, env)
    assert code == 2
    assert_one_clear_line(stderr, names=names)
    assert SECRET not in stderr
    assert SECRET[:10] not in stderr


def test_busy_port_says_so_before_starting(tmp_path: Path) -> None:
    """A taken port stops `certdesk serve` with one line, before it logs "certdesk started"."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, stderr = run_serve(tmp_path, {}, "--port", str(port))
    assert code == 2
    assert_one_clear_line(stderr, names=f"port {port}")
    assert "in use" in stderr
    assert "--port" in stderr
    assert "certdesk started" not in stderr
