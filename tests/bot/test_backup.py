"""`certdesk backup` / `certdesk restore`: issue, back up, wipe, restore; the restored server
serves the same CA and the same enrollment."""

from __future__ import annotations

import json
import shutil
import stat
import tarfile
import urllib.request
from pathlib import Path

from tests.support.pki import make_csr
from tests.support.processes import Cli, base_env, live_server


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310
        body: bytes = response.read()
    return body


def redeem(link: str, created: dict[str, str], csr: str) -> dict[str, str]:
    base, _, token = link.partition("/enroll/")
    body = json.dumps(
        {
            "reference_number": created["reference_number"],
            "authorization_code": created["authorization_code"],
            "csr": csr,
        }
    ).encode()
    request = urllib.request.Request(  # noqa: S310
        f"{base}/api/v1/enroll/{token}", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        result: dict[str, str] = json.loads(response.read())
    return result


def test_backup_wipe_restore_serves_the_same_ca_and_enrollment(tmp_path: Path) -> None:
    data = tmp_path / "var"
    env = base_env(data, {"CERTDESK_SERVE_REMINDERS": "false"})
    cli = Cli(env)
    archive = tmp_path / "certdesk-backup.tar.gz"
    with live_server(env) as server:
        made = cli("ra", "issue", "--cn", "Backed Up Holder", "--ou", "Branch 01", "--json")
        assert made.returncode == 0, made.stderr
        created = json.loads(made.stdout)
        ca_before = fetch(f"{server.url}/ca.pem")
        backed = cli("backup", str(archive))  # while the server runs
        assert backed.returncode == 0, backed.stderr
        url = server.url
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
    assert {"ca/issuing.key", "ca/root.key", "secret.key", "certdesk.db"} <= names

    shutil.rmtree(data)
    data.mkdir()  # wiped (the commands run in it)
    refused = cli("ra", "stats")
    assert refused.returncode != 0
    restored = cli("restore", str(archive))
    assert restored.returncode == 0, restored.stderr
    assert stat.S_IMODE((data / "secret.key").stat().st_mode) == 0o600
    again = cli("restore", str(archive))
    assert again.returncode == 1
    assert "already holds certdesk data" in again.stderr

    port = int(url.rsplit(":", 1)[1])
    with live_server(env, port=port) as server:
        assert fetch(f"{server.url}/ca.pem") == ca_before
        status = cli("ra", "status", created["reference_number"], "--json")
        assert json.loads(status.stdout)["enrollment"]["status"] == "pending"
        _, csr = make_csr(tmp_path)
        issued = redeem(created["link"], created, csr)
        assert "BEGIN CERTIFICATE" in issued["certificate"]


def test_restore_refuses_an_archive_that_is_not_a_backup(bare_cli: Cli, tmp_path: Path) -> None:
    archive = tmp_path / "evil.tar.gz"
    payload = tmp_path / "payload"
    payload.write_text("x")
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(payload, arcname="manifest.json")
        tar.add(payload, arcname="../outside")
    result = bare_cli("restore", str(archive))
    assert result.returncode == 1
    assert "entries a certdesk backup never has" in result.stderr
    assert not (tmp_path / "outside").exists()
    garbage = tmp_path / "garbage.tar.gz"
    garbage.write_bytes(b"not an archive")
    result = bare_cli("restore", str(garbage))
    assert result.returncode == 1
    assert "cannot read" in result.stderr
    assert "Traceback" not in result.stderr
