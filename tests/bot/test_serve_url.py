"""`certdesk serve --port P` without CERTDESK_PUBLIC_URL: links and the CRL URL on port P, for
the server and for a command run beside it; what startup says about itself."""

from __future__ import annotations

import json
import subprocess
import urllib.request
from pathlib import Path

from cryptography import x509

from bot.startup import safe_database_url
from tests.bot.test_data_dir import wait_healthy
from tests.support.pki import make_csr
from tests.support.postgres import free_port
from tests.support.processes import ROOT, Cli, base_env


def test_scripts_serve_port_gives_links_and_crl_url_on_that_port(tmp_path: Path) -> None:
    """Acceptance 4: fails before this branch (links and CRL URL stayed on port 8080)."""
    data = tmp_path / "var"
    port = free_port()
    env = base_env(data, {"CERTDESK_SERVE_REMINDERS": "false"})  # no PORT, no PUBLIC_URL
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(ROOT / "scripts" / "serve"), "--port", str(port)],  # the README's example
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, process, log)
        started = [
            json.loads(line)
            for line in log.read_text().splitlines()
            if line.startswith("{") and "certdesk started" in line
        ]
        assert len(started) == 1
        facts = started[0]
        assert facts["public_url"] == url
        assert facts["data_dir"] == str(data.resolve())
        assert facts["database"] == f"sqlite+aiosqlite:///{data.resolve() / 'certdesk.db'}"
        assert (facts["slack"], facts["socket_mode"], facts["smtp"]) == (False, False, False)
        assert facts["ca_subject"].startswith("CN=")
        assert f"URL {url}" in facts["msg"]
        assert facts["ca_fingerprint_sha256"] in facts["msg"]

        made = Cli(env)("ra", "issue", "--cn", "Port Holder", "--json")
        assert made.returncode == 0, made.stderr
        created = json.loads(made.stdout)
        assert created["link"].startswith(f"{url}/enroll/")
        with urllib.request.urlopen(created["link"], timeout=10) as page:  # noqa: S310
            assert page.status == 200

        _, csr = make_csr(tmp_path)
        token = created["link"].rsplit("/", 1)[1]
        body = json.dumps(
            {
                "reference_number": created["reference_number"],
                "authorization_code": created["authorization_code"],
                "csr": csr,
            }
        ).encode()
        request = urllib.request.Request(  # noqa: S310
            f"{url}/api/v1/enroll/{token}",
            data=body,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            issued = json.loads(response.read())
        certificate = x509.load_pem_x509_certificate(issued["certificate"].encode())
        points = certificate.extensions.get_extension_for_class(x509.CRLDistributionPoints)
        names = [name.value for point in points.value for name in point.full_name or ()]
        assert names == [f"{url}/crl"]
    finally:
        process.terminate()
        process.wait(timeout=15)


def test_the_database_password_never_shows() -> None:
    shown = safe_database_url("postgresql+asyncpg://certdesk:s3cret-pw@db:5432/certdesk")
    assert "s3cret-pw" not in shown
    assert shown == "postgresql+asyncpg://certdesk:***@db:5432/certdesk"


def test_public_url_follows_the_recorded_url_unless_set(tmp_path: Path) -> None:
    from bot.datadir import record_served_url
    from bot.settings import Settings

    def settings(**values: object) -> Settings:
        return Settings(_env_file=None, data_dir=tmp_path, **values)  # type: ignore[call-arg]

    assert settings(port=9000).public_url == "http://127.0.0.1:9000"
    record_served_url(tmp_path, "http://10.0.0.5:9001")
    assert settings(port=9000).public_url == "http://10.0.0.5:9001"
    assert settings(public_url="https://certs.example/").public_url == "https://certs.example"
