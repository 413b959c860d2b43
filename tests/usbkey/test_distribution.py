"""The holder's client as holders get it: certdesk-usbkey installed alone in a fresh venv.

One module fixture builds the distribution (scripts/build-client), serves it from a real
`certdesk serve`, and pip-installs the wheel from the server's /downloads/ path into a fresh
virtual environment (dependencies from the package index pip is configured for). The installed
`certdesk-usbkey` then enrolls on a SoftHSM token, renews three times, and the token's key and
certificate do a TLS client-authentication handshake through OpenSSL's pkcs11 engine against
`openssl s_server -Verify 1 -CAfile ca.pem`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.support import system
from tests.support.client_build import client_dist  # noqa: F401 (a session fixture)
from tests.support.pki import self_signed_server
from tests.support.postgres import free_port
from tests.support.processes import Cli, LiveServer, base_env, live_server
from tests.support.softhsm import PIN, SoftHsm, make_softhsm

pytestmark = pytest.mark.slow

SERVER_SIDE = ("slack_bolt", "sqlalchemy", "sklearn", "aiohttp", "bot", "enrollment")


@dataclass
class Holder:
    server: LiveServer
    ra: Cli
    venv: Path
    wheel_url: str

    def run(
        self, hsm: SoftHsm, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        return subprocess.run(
            [str(self.venv / "bin" / "certdesk-usbkey"), *args],
            capture_output=True,
            text=True,
            env={**clean, **hsm.env, "TOKEN_PIN": PIN, **(env or {})},
            cwd=self.venv,
            timeout=180,
            check=False,
        )

    def python(self, code: str, *args: str) -> subprocess.CompletedProcess[str]:
        """``code`` run by the holder's venv alone (none of this checkout on its path)."""
        return subprocess.run(
            [str(self.venv / "bin" / "python"), "-c", code, *args],
            capture_output=True,
            text=True,
            cwd=self.venv,
            env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
            timeout=60,
            check=False,
        )


@pytest.fixture(scope="module")
def holder(client_dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Holder]:  # noqa: F811
    data_dir = tmp_path_factory.mktemp("desk")
    port = free_port()
    env = base_env(
        data_dir,
        {
            "CERTDESK_CLIENT_DIR": str(client_dist),
            "CERTDESK_PUBLIC_URL": f"http://127.0.0.1:{port}",
        },
    )
    with live_server(env, port=port) as server:
        with urllib.request.urlopen(  # noqa: S310 (the test's own server)
            f"{server.url}/downloads/certdesk-usbkey.whl", timeout=30
        ) as response:
            wheel_url = response.url  # the stable alias redirects to the versioned file
        venv = tmp_path_factory.mktemp("holder") / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
        install = subprocess.run(
            [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", wheel_url],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert install.returncode == 0, install.stderr
        yield Holder(server=server, ra=Cli(env), venv=venv, wheel_url=wheel_url)


def issue(holder: Holder, cn: str) -> dict[str, str]:
    result = holder.ra("ra", "issue", "--cn", cn, "--json")
    assert result.returncode == 0, result.stderr
    created: dict[str, str] = json.loads(result.stdout)
    return created


def field(output: str, name: str) -> str:
    line = next(line for line in output.splitlines() if line.strip().startswith(f"{name}:"))
    return line.split(":", 1)[1].strip()


def test_the_wheel_is_offered_at_a_versioned_path(holder: Holder) -> None:
    assert holder.wheel_url.startswith(f"{holder.server.url}/downloads/certdesk_usbkey-")
    assert holder.wheel_url.endswith("-py3-none-any.whl")


def test_fresh_venv_has_the_client_and_nothing_of_the_server(holder: Holder) -> None:
    probe = (
        "import importlib.util, json, sys; "
        "print(json.dumps({m: importlib.util.find_spec(m) is not None for m in sys.argv[1:]}))"
    )
    wanted = (*SERVER_SIDE, "usbkey", "common", "pkcs11", "cryptography")
    result = holder.python(probe, *wanted)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert {name for name in SERVER_SIDE if found[name]} == set()
    assert all(found[name] for name in ("usbkey", "common", "pkcs11", "cryptography"))
    version = subprocess.run(
        [str(holder.venv / "bin" / "certdesk-usbkey"), "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert version.stdout.startswith("certdesk-usbkey ")
    models = holder.python(
        "from usbkey.pkcs11.models import TOKEN_MODELS; print(len(TOKEN_MODELS))"
    )
    assert models.returncode == 0, models.stderr  # the wheel carries pkcs11/models.toml
    assert models.stdout.strip() == "4"


def objects(hsm: SoftHsm) -> str:
    listing = hsm.pkcs11_tool("--login", "--pin", PIN, "--list-objects")
    assert listing.returncode == 0, listing.stderr
    return listing.stdout


def holder_counts(hsm: SoftHsm, cn: str) -> tuple[int, int]:
    """(certificates for ``cn``, private keys) on the token."""
    listing = objects(hsm)
    certificates = [
        block for block in listing.split("Certificate Object")[1:] if f"CN={cn}" in block
    ]
    return len(certificates), listing.count("Private Key Object")


def test_enroll_then_three_renewals_leave_one_pair_that_does_tls_client_auth(
    holder: Holder, tmp_path: Path
) -> None:
    hsm = make_softhsm(tmp_path / "softhsm")
    hsm.init_token("holder")
    created = issue(holder, "Client Holder")
    enrolled = holder.run(
        hsm,
        "enroll",
        created["link"],
        "--module",
        hsm.module,
        "--pin-env",
        "TOKEN_PIN",
        "--reference-number",
        created["reference_number"],
        "--authorization-code-env",
        "AUTH_CODE",
        env={"AUTH_CODE": created["authorization_code"]},
    )
    assert enrolled.returncode == 0, enrolled.stderr
    assert "generating the key pair on the token (this can take a minute)…" in enrolled.stderr
    assert holder_counts(hsm, "Client Holder") == (1, 1)
    serial = field(enrolled.stdout, "Serial")
    for _ in range(3):
        renewed = holder.run(hsm, "renew", "--module", hsm.module, "--pin-env", "TOKEN_PIN")
        assert renewed.returncode == 0, renewed.stderr
        assert field(renewed.stdout, "Replaces").startswith(serial)
        serial = field(renewed.stdout, "Serial")
    assert holder_counts(hsm, "Client Holder") == (1, 1)
    key_id = field(renewed.stdout, "Key ID")
    listing = holder.run(hsm, "list", "--module", hsm.module)
    current = next(line for line in listing.stdout.splitlines() if serial in line)
    assert current.lstrip().startswith("* ")

    handshake = tls_client_auth(holder, hsm, key_id, tmp_path)
    assert "CONNECTION ESTABLISHED" in handshake
    peer = next(line for line in handshake.splitlines() if line.startswith("Peer certificate:"))
    assert peer.endswith("CN = Client Holder"), handshake
    assert "Verification: OK" in handshake


def tls_client_auth(holder: Holder, hsm: SoftHsm, key_id: str, directory: Path) -> str:
    """A TLS handshake with client authentication, the client's key used on the token.

    The server (``openssl s_server -Verify 1 -verify_return_error``) trusts certdesk's CA only;
    the client is ``openssl s_client`` with the libengine-pkcs11-openssl engine and the key
    named by its CKA_ID. Returns what the server reported about the handshake.
    """
    openssl = system.binary("openssl", "openssl")
    engine = system.pkcs11_engine()
    ca = directory / "ca.pem"
    with urllib.request.urlopen(f"{holder.server.url}/ca.pem", timeout=30) as response:  # noqa: S310
        ca.write_bytes(response.read())
    der = hsm.pkcs11_tool(
        "--read-object", "--type", "cert", "--id", key_id, "-o", str(directory / "c.der")
    )
    assert der.returncode == 0, der.stderr
    client_cert = directory / "client.pem"
    client_cert.write_bytes(
        x509.load_der_x509_certificate((directory / "c.der").read_bytes()).public_bytes(
            serialization.Encoding.PEM
        )
    )
    server_cert, server_key = _server_identity(directory)
    config = directory / "engine.cnf"
    config.write_text(
        "openssl_conf = openssl_init\n[openssl_init]\nengines = engine_section\n"
        "[engine_section]\npkcs11 = pkcs11_section\n[pkcs11_section]\nengine_id = pkcs11\n"
        f"dynamic_path = {engine}\nMODULE_PATH = {hsm.module}\ninit = 0\n"
    )
    port = free_port()
    env = {**os.environ, **hsm.env}
    server = subprocess.Popen(
        [
            *(openssl, "s_server", "-accept", str(port), "-cert", str(server_cert)),
            *("-key", str(server_key), "-Verify", "1", "-CAfile", str(ca)),
            *("-verify_return_error", "-naccept", "1", "-rev"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        assert server.stdout is not None
        for line in server.stdout:  # wait until it listens
            if line.startswith("ACCEPT"):
                break
        uri = f"pkcs11:token=holder;id={_percent(key_id)};type=private?pin-value={PIN}"
        client = subprocess.run(
            [
                *(openssl, "s_client", "-connect", f"127.0.0.1:{port}", "-engine", "pkcs11"),
                *("-keyform", "engine", "-key", uri, "-cert", str(client_cert)),
                *("-CAfile", str(server_cert), "-verify_return_error"),
            ],
            input="hello\n",
            capture_output=True,
            text=True,
            env={**env, "OPENSSL_CONF": str(config)},
            timeout=60,
            check=False,
        )
        report, _ = server.communicate(timeout=60)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    assert "Verify return code: 0 (ok)" in client.stdout, client.stderr
    return report


def _percent(hex_id: str) -> str:
    return "".join(f"%{hex_id[i : i + 2]}" for i in range(0, len(hex_id), 2))


def _server_identity(directory: Path) -> tuple[Path, Path]:
    constraints = x509.BasicConstraints(ca=True, path_length=None)
    return self_signed_server(
        directory, valid_for=timedelta(hours=1), extension=constraints, critical=True
    )
