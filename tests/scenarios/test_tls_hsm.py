"""CERTDESK_TLS=auto with the issuing CA's key on a real SoftHSM2 token: the server's own
certificate comes from the HSM-held CA and `openssl s_client` verifies it against /ca.pem, a
server certificate due for renewal is replaced, and OCSP over that HTTPS answers `openssl
ocsp` with a delegated signer the HSM certified, rotated when due."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509 import ocsp

from bot.datadir import ca_directory
from bot.runtime import open_ca
from bot.settings import Settings
from bot.tls import RENEW_BEFORE, SERVER_VALIDITY, AutoCertificate
from common.time import utcnow
from enrollment.ca.ocsp_signer import (
    SIGNER_RENEW_BEFORE,
    SIGNER_VALIDITY,
    SignerPolicy,
    load_or_rotate_signer,
)
from tests.scenarios.test_tls import curl, served_certificate
from tests.support.pki import openssl
from tests.support.processes import Cli, base_env, free_port, live_server, sh
from tests.support.softhsm import PIN, SoftHsm, process_softhsm


@pytest.fixture(scope="module")
def hsm(tmp_path_factory: pytest.TempPathFactory) -> SoftHsm:
    return process_softhsm(tmp_path_factory.mktemp("softhsm"))


def due_pairs(settings: Settings) -> tuple[x509.Certificate, x509.Certificate]:
    """A server certificate and an OCSP signer, both signed by the HSM key and both due for
    replacement now (as if the server had been stopped for two months)."""

    async def make() -> tuple[x509.Certificate, x509.Certificate]:
        async with open_ca(settings) as ca:
            now = utcnow()
            server = AutoCertificate(ca=ca, host="localhost", directory=settings.data_dir / "tls")
            tls = await asyncio.to_thread(
                server.issue, now - SERVER_VALIDITY + RENEW_BEFORE - timedelta(days=1)
            )
            signer = await asyncio.to_thread(
                load_or_rotate_signer,
                ca_directory(settings),
                ca=ca,
                policy=SignerPolicy(),
                now=now - SIGNER_VALIDITY + SIGNER_RENEW_BEFORE - timedelta(days=1),
            )
            return tls, signer.certificate

    return asyncio.run(make())


def test_tls_auto_with_the_hsm_ca_key_renews_and_serves_ocsp_over_https(
    hsm: SoftHsm, tmp_path: Path
) -> None:
    label = f"tls-{uuid.uuid4().hex[:8]}"
    hsm.new_token(label)
    data_dir = tmp_path / "desk"
    data_dir.mkdir(mode=0o700)
    port = free_port()
    url = f"https://localhost:{port}"
    hsm_env = {
        "CERTDESK_CA_PKCS11_MODULE": hsm.module,
        "CERTDESK_CA_PKCS11_TOKEN_LABEL": label,
        "CERTDESK_CA_PKCS11_PIN": PIN,
    }
    env = base_env(
        data_dir,
        {
            "CERTDESK_TLS": "auto",
            "CERTDESK_PUBLIC_URL": url,
            "CERTDESK_SERVE_REMINDERS": "false",
            **hsm_env,
            **hsm.env,
        },
    )
    cli = Cli(env)
    initialised = cli("init")
    assert initialised.returncode == 0, initialised.stderr
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=data_dir,
        public_url=url,
        ca_pkcs11_module=hsm.module,
        ca_pkcs11_token_label=label,
        ca_pkcs11_pin=PIN,
    )
    old_tls, old_signer = due_pairs(settings)

    with live_server(env, port=port, tls=True):
        chain = tmp_path / "ca.pem"
        fetched = sh(f"{curl()} -sS -k -o {chain} {url}/ca.pem", tmp_path)
        assert fetched.returncode == 0, fetched.stderr
        issuing = x509.load_pem_x509_certificates(chain.read_bytes())[0]
        issuing_pem = tmp_path / "issuing.pem"
        issuing_pem.write_bytes(issuing.public_bytes(serialization.Encoding.PEM))

        served = x509.load_pem_x509_certificate(served_certificate(port, chain).encode())
        assert served.serial_number != old_tls.serial_number  # the due one was replaced
        served.verify_directly_issued_by(issuing)
        assert served.not_valid_after_utc - utcnow() > RENEW_BEFORE
        assert issuing.subject == old_tls.issuer  # the CA whose key is on the token

        holder = enroll(cli, url, chain, tmp_path)
        assert ask_ocsp(url, chain, issuing_pem, holder, tmp_path) == "good"
        answer = ocsp.load_der_ocsp_response((tmp_path / "answer.der").read_bytes())
        responder = answer.certificates[0]
        assert responder != old_signer  # due at start: rotated, and certified by the HSM key
        responder.verify_directly_issued_by(issuing)
        assert responder.not_valid_after_utc - utcnow() > SIGNER_RENEW_BEFORE

        serial = format(x509.load_pem_x509_certificate(holder.read_bytes()).serial_number, "x")
        revoked = cli("ra", "revoke", serial, "--reason", "keyCompromise")
        assert revoked.returncode == 0, revoked.stderr
        assert ask_ocsp(url, chain, issuing_pem, holder, tmp_path) == "revoked"


def enroll(cli: Cli, url: str, chain: Path, directory: Path) -> Path:
    """A holder's certificate with EST simpleenroll over the HSM CA's HTTPS."""
    created = cli("ra", "issue", "--cn", "HSM TLS Holder", "--json")
    assert created.returncode == 0, created.stderr
    enrollment = json.loads(created.stdout)
    made = openssl(
        "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", str(directory / "key.pem"), "-subj", "/CN=whatever",
        "-outform", "DER", "-out", str(directory / "first.der"),
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    user = f"{enrollment['reference_number']}:{enrollment['authorization_code']}"
    enrolled = sh(
        f"base64 first.der > first.b64 && {curl()} -sS --fail-with-body --cacert {chain} "
        f"--user {user} --data-binary @first.b64 -H 'Content-Type: application/pkcs10' "
        f"{url}/.well-known/est/simpleenroll"
        " | base64 -d | openssl pkcs7 -inform DER -print_certs > holder.pem",
        directory,
    )
    assert enrolled.returncode == 0, enrolled.stderr
    return directory / "holder.pem"


def ask_ocsp(url: str, chain: Path, issuing: Path, holder: Path, directory: Path) -> str:
    """`openssl ocsp` over certdesk's HTTPS (the TLS and the answer verified against
    /ca.pem): the holder's status."""
    asked = openssl(
        "ocsp", "-issuer", str(issuing), "-cert", str(holder), "-url", f"{url}/ocsp",
        "-CAfile", str(chain), "-respout", str(directory / "answer.der"),
    )  # fmt: skip
    assert asked.returncode == 0, asked.stderr
    assert "Response verify OK" in asked.stderr.decode(), asked.stderr
    line = asked.stdout.decode().splitlines()[0]
    return line.removeprefix(f"{holder}: ").strip()
