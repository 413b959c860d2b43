"""EST with stock tools: the README's `curl … | base64 -d | openssl pkcs7` against `certdesk serve`.

No EST client is packaged in Debian (`apt-cache search` finds none), so the client here is what
the README shows: curl for HTTP, coreutils base64, OpenSSL for the CSR and the PKCS#7.
"""

from __future__ import annotations

from pathlib import Path

from bot.runtime import Runtime
from enrollment.services import EnrollmentCreate
from enrollment.services.ra import NewEnrollment
from tests.scenarios.conftest import Desk
from tests.support import system
from tests.support.pki import openssl, subject_line, verify
from tests.support.processes import sh


def test_est_with_curl_and_openssl_as_in_the_readme(desk: Desk, tmp_path: Path) -> None:
    curl = system.binary("curl", "curl")
    request = EnrollmentCreate(cn="EST Holder", ous=["Branch 7"], o="Acme Bank")

    async def create(runtime: Runtime) -> NewEnrollment:
        return await runtime.services.ra.create_enrollment(request, actor="test")

    created = desk.call(create)
    made = openssl(
        "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", str(tmp_path / "my.key"), "-subj", "/CN=whatever",
        "-outform", "DER", "-out", str(tmp_path / "req.der"),
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert sh("base64 req.der > req.b64", tmp_path).returncode == 0

    cacerts = sh(
        f"{curl} -sS --fail-with-body {desk.url}/.well-known/est/cacerts"
        " | base64 -d | openssl pkcs7 -inform DER -print_certs > cacerts.pem",
        tmp_path,
    )
    assert cacerts.returncode == 0, cacerts.stderr
    assert (tmp_path / "cacerts.pem").read_text().count("BEGIN CERTIFICATE") == 2

    no_auth = sh(
        f"{curl} -sS -o /dev/null -D - --data-binary @req.b64 "
        f"-H 'Content-Type: application/pkcs10' {desk.url}/.well-known/est/simpleenroll",
        tmp_path,
    )
    assert " 401 " in no_auth.stdout.splitlines()[0], no_auth.stdout
    assert 'www-authenticate: basic realm="certdesk est"' in no_auth.stdout.lower()

    enrolled = sh(
        f"{curl} -sS --fail-with-body "
        f"--user {created.reference_number}:{created.authorization_code} "
        "--data-binary @req.b64 -H 'Content-Type: application/pkcs10' "
        f"{desk.url}/.well-known/est/simpleenroll"
        " | base64 -d | openssl pkcs7 -inform DER -print_certs > cert.pem",
        tmp_path,
    )
    assert enrolled.returncode == 0, enrolled.stderr
    cert = tmp_path / "cert.pem"
    assert verify(tmp_path / "cacerts.pem", cert).returncode == 0
    assert verify(desk.ca_file(tmp_path), cert).returncode == 0
    assert subject_line(cert) == "subject=CN=EST Holder,OU=Branch 7,O=Acme Bank"
    matches = openssl("x509", "-in", str(cert), "-noout", "-pubkey").stdout
    assert matches == openssl("pkey", "-in", str(tmp_path / "my.key"), "-pubout").stdout

    again = sh(
        f"{curl} -sS -w '%{{http_code}}' -o again.json "
        f"--user {created.reference_number}:{created.authorization_code} "
        "--data-binary @req.b64 -H 'Content-Type: application/pkcs10' "
        f"{desk.url}/.well-known/est/simpleenroll",
        tmp_path,
    )
    assert again.stdout == "409"
    assert "enrollment_not_pending" in (tmp_path / "again.json").read_text()
