"""`certdesk inspect FILE [--json]` through the real command line."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import subprocess
import sys
import termios
import time
from pathlib import Path

from tests.faq.conftest import P12_PASSWORD, Pki
from tests.support.processes import Cli


def _rows(text: str) -> list[str]:
    return [row.strip() for row in text.splitlines() if row.strip()]


def test_cli_inspect_two_ous_in_order_second_is_ra_institution(cli: Cli, pki: Pki) -> None:
    """Acceptance 4, first part."""
    result = cli("inspect", str(pki.leaf_pem))
    assert result.returncode == 0, result.stderr
    rows = _rows(result.stdout)
    ou1 = next(i for i, row in enumerate(rows) if row.startswith("OU 1 "))
    ou2 = next(i for i, row in enumerate(rows) if row.startswith("OU 2 (RA institution)"))
    assert ou1 < ou2
    assert rows[ou1].endswith("Branch 01")
    assert rows[ou2].endswith("RA Shanghai")
    assert any(row.startswith("CN (name)") and row.endswith("张三 Zhang San") for row in rows)
    assert any(row.startswith("O (organisation)") and row.endswith("Test CA Org") for row in rows)


def test_cli_inspect_p7b_chain_lists_each_certificate(cli: Cli, pki: Pki) -> None:
    """Acceptance 4, second part."""
    result = cli("inspect", str(pki.chain_p7b_pem))
    assert result.returncode == 0, result.stderr
    assert "Certificate 1 of 2" in result.stdout
    assert "Certificate 2 of 2" in result.stdout
    as_json = json.loads(cli("inspect", str(pki.chain_p7b_der), "--json").stdout)
    assert as_json["format"] == "pkcs7"
    assert sorted(c["cn"] for c in as_json["certificates"]) == ["Test Root CA", "张三 Zhang San"]


def test_cli_inspect_garbage_fails_with_clear_message(cli: Cli, tmp_path: Path) -> None:
    """Acceptance 4, third part."""
    garbage = tmp_path / "notes.cer"
    garbage.write_bytes(b"this is not a certificate at all\n" * 20)
    result = cli("inspect", str(garbage))
    assert result.returncode != 0
    assert "not a certificate" in result.stderr
    assert str(garbage) in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_cli_inspect_garbage_message_in_chinese(cli: Cli, tmp_path: Path) -> None:
    garbage = tmp_path / "empty.crt"
    garbage.write_bytes(b"")
    result = cli("inspect", str(garbage), "--language", "zh")
    assert result.returncode == 1
    assert "不是证书文件" in result.stderr


def test_cli_inspect_missing_file_fails_clearly(cli: Cli, tmp_path: Path) -> None:
    result = cli("inspect", str(tmp_path / "nope.pem"))
    assert result.returncode == 1
    assert "cannot read" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_inspect_json_has_every_field(cli: Cli, pki: Pki) -> None:
    result = cli("inspect", str(pki.leaf_der), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    (leaf,) = data["certificates"]
    assert data["format"] == "der"
    assert leaf["ou"] == ["Branch 01", "RA Shanghai"]
    assert leaf["ra_institution"] == "RA Shanghai"
    assert leaf["o"] == "Test CA Org"
    assert leaf["serial"] == pki.leaf_serial_hex
    assert leaf["issuer"] == "CN=Test Root CA,O=Test CA Org"
    assert {"not_before", "not_after", "days_left", "key_type", "key_size", "sha256"} <= set(leaf)


def test_cli_inspect_p12_reads_password_from_environment(cli: Cli, pki: Pki) -> None:
    result = cli(
        "inspect",
        str(pki.leaf_p12),
        "--json",
        "--password-env",
        "P12_PASS",
        env={"P12_PASS": P12_PASSWORD},
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["format"] == "pkcs12"
    assert data["has_private_key"] is True
    assert data["certificates"][0]["friendly_name"] == "Zhang San signing"
    assert P12_PASSWORD not in result.stdout + result.stderr


def test_cli_inspect_p12_without_password_says_password_required(cli: Cli, pki: Pki) -> None:
    result = cli("inspect", str(pki.leaf_p12))
    assert result.returncode == 1
    assert "password-protected" in result.stderr


def test_cli_inspect_p12_wrong_password_says_so(cli: Cli, pki: Pki) -> None:
    result = cli(
        "inspect", str(pki.leaf_p12), "--password-env", "P12_PASS", env={"P12_PASS": "wrong"}
    )
    assert result.returncode == 1
    assert "does not open" in result.stderr


def test_cli_inspect_password_env_unset_fails_clearly(cli: Cli, pki: Pki) -> None:
    result = cli("inspect", str(pki.leaf_p12), "--password-env", "CERTDESK_TEST_UNSET_VAR")
    assert result.returncode == 1
    assert "CERTDESK_TEST_UNSET_VAR is not set" in result.stderr


def test_cli_inspect_p12_prompts_for_password_on_a_terminal(cli: Cli, pki: Pki) -> None:
    """On a terminal, the PKCS#12 password is asked for (not echoed) instead of failing."""
    primary, secondary = pty.openpty()

    def controlling_terminal() -> None:
        os.setsid()
        fcntl.ioctl(secondary, termios.TIOCSCTTY, 0)

    process = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "inspect", str(pki.leaf_p12), "--json"],
        stdin=secondary,
        stdout=subprocess.PIPE,
        stderr=secondary,
        env=cli.env,
        cwd=cli.env["CERTDESK_DATA_DIR"],
        preexec_fn=controlling_terminal,
    )
    os.close(secondary)
    seen = b""
    try:
        deadline = time.monotonic() + 60
        while b"password" not in seen.lower() and time.monotonic() < deadline:
            ready, _, _ = select.select([primary], [], [], 1)
            if ready:
                seen += os.read(primary, 1024)
        os.write(primary, P12_PASSWORD.encode() + b"\n")
        stdout, _ = process.communicate(timeout=60)
    finally:
        os.close(primary)
        if process.poll() is None:
            process.kill()
    assert b"PKCS#12 password" in seen
    assert process.returncode == 0
    assert json.loads(stdout)["certificates"][0]["cn"] == "张三 Zhang San"
