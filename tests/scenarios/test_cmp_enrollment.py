"""A holder follows the README's CMP command, word for word, against the real server: RA staff
issue from the CLI, `openssl cmp` enrolls, OpenSSL verifies and pkilint passes the result."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import NameOID

from tests.enrollment.ca.test_ca import lint
from tests.support import system
from tests.support.pki import openssl
from tests.support.processes import ROOT, Cli, LiveServer


def readme_commands() -> list[list[str]]:
    """The commands of the README's CMP block (continuation lines joined)."""
    text = (ROOT / "README.md").read_text()
    section = text.split("**CMP**", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert block is not None
    joined = block.group(1).replace("\\\n", " ")
    return [shlex.split(line) for line in joined.splitlines() if line.strip()]


def test_readme_cmp_command_enrolls_with_openssl(
    server: LiveServer, cli: Cli, tmp_path: Path
) -> None:
    system.binary("openssl", "openssl")
    created = cli(
        "ra", "issue", "--cn", "Test Holder 01", "--ou", "Branch 01", "--ou", "RA Shanghai",
        "--o", "Acme Bank", "--json",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    data = json.loads(created.stdout)
    host = server.url.removeprefix("http://")
    for command in readme_commands():
        command = [
            word.replace("REFERENCE", data["reference_number"])
            .replace("AUTHORIZATION-CODE", data["authorization_code"])
            .replace("127.0.0.1:8080", host)
            for word in command
        ]
        result = subprocess.run(
            command,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, (command, result.stdout)

    verified = openssl(
        "verify", "-CAfile", str(tmp_path / "root.pem"), "-untrusted", str(tmp_path / "chain.pem"),
        str(tmp_path / "cert.pem"),
    )  # fmt: skip
    assert verified.returncode == 0, verified.stderr
    cert = x509.load_pem_x509_certificate((tmp_path / "cert.pem").read_bytes())
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Test Holder 01"
    assert [
        a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)
    ] == [
        "Branch 01",
        "RA Shanghai",
    ]
    assert lint(tmp_path / "cert.pem") == ""
    assert data["authorization_code"] not in server.log()
