"""Acceptance of the foundation: RA issues from the CLI, the holder posts an OpenSSL CSR to the
real server, and gets a certificate that OpenSSL verifies and pkilint passes."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
from cryptography import x509
from cryptography.x509.oid import NameOID

from tests.enrollment.ca.test_ca import lint
from tests.support.pki import make_csr, openssl
from tests.support.postgres import PostgresServer, free_port
from tests.support.processes import Cli, LiveServer, base_env, live_server


def issue(cli: Cli, server_url: str) -> dict[str, str]:
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
        env={"CERTDESK_PUBLIC_URL": server_url},
    )
    assert result.returncode == 0, result.stderr
    data: dict[str, str] = json.loads(result.stdout)
    return data


async def post(url: str, payload: dict[str, str]) -> tuple[int, dict[str, object]]:
    async with aiohttp.ClientSession() as session, session.post(url, json=payload) as response:
        return response.status, await response.json()


async def test_first_certificate_end_to_end(server: LiveServer, cli: Cli, tmp_path: Path) -> None:
    created = issue(cli, server.url)
    assert created["link"].startswith(f"{server.url}/enroll/")
    token = created["link"].rsplit("/", 1)[1]
    _, csr = make_csr(tmp_path, key="rsa2048", subject="/CN=Someone Else/O=Not The RA")
    payload = {
        "reference_number": created["reference_number"],
        "authorization_code": created["authorization_code"],
        "csr": csr,
    }
    status, data = await post(f"{server.url}/api/v1/enroll/{token}", payload)
    assert status == 201, data

    cert_path = tmp_path / "cert.pem"
    cert_path.write_text(str(data["certificate"]))
    async with aiohttp.ClientSession() as session, session.get(f"{server.url}/ca.pem") as r:
        (tmp_path / "ca.pem").write_bytes(await r.read())
    verified = openssl("verify", "-CAfile", str(tmp_path / "ca.pem"), str(cert_path))
    assert verified.returncode == 0, verified.stderr
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    ous = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)]
    assert ous == ["Branch 01", "RA Shanghai"]
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Test Holder 01"
    assert lint(cert_path) == ""

    again, error = await post(f"{server.url}/api/v1/enroll/{token}", payload)
    assert again == 410
    assert error["error"]["code"] == "link_used"  # type: ignore[index]

    log = server.log()
    assert created["authorization_code"] not in log
    assert token not in log
    for line in log.splitlines():
        json.loads(line)  # every log line is one JSON object


async def test_two_servers_on_postgresql_issue_one_certificate_per_link(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    """Scale-out: two web processes share PostgreSQL; 20 racing posts still give one 201."""
    url = postgres_server.create_database()
    env = base_env(tmp_path, {"CERTDESK_DATABASE_URL": url, "CERTDESK_SECRET_KEY": "s" * 40})
    assert Cli(env)("db", "upgrade").returncode == 0
    with live_server(dict(env)) as first, live_server(dict(env)) as second:
        created = issue(Cli(env), first.url)
        token = created["link"].rsplit("/", 1)[1]
        _, csr = make_csr(tmp_path)
        payload = {
            "reference_number": created["reference_number"],
            "authorization_code": created["authorization_code"],
            "csr": csr,
        }
        results = await asyncio.gather(
            *(
                post(f"{(first, second)[i % 2].url}/api/v1/enroll/{token}", payload)
                for i in range(20)
            )
        )
    assert sorted(status for status, _ in results) == [201] + [410] * 19, [
        r for r in results if r[0] != 410
    ]


async def test_serve_on_postgresql_refuses_unmigrated_schema(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    env = base_env(tmp_path, {"CERTDESK_DATABASE_URL": postgres_server.create_database()})
    result = Cli(env)("serve", "--port", str(free_port()))
    assert result.returncode == 2
    assert "run `certdesk db upgrade` first" in result.stderr
    assert "Traceback" not in result.stderr
