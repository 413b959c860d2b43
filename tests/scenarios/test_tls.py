"""certdesk's own TLS (CERTDESK_TLS=auto) with stock tools: the server certificate verifies
against /ca.pem for the public host name, and a holder renews with EST simplereenroll
authenticated by `curl --cert --key`."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509

from bot.runtime import Runtime
from enrollment.services import EnrollmentCreate
from enrollment.services.ra import NewEnrollment
from tests.scenarios.conftest import Desk
from tests.support import system
from tests.support.pki import assert_says_no_more, openssl
from tests.support.processes import Cli, base_env, free_port, live_server, sh
from tests.support.store import certificate_row


@dataclass
class TlsDesk:
    desk: Desk
    cli: Cli
    url: str  # https://localhost:PORT, the public URL
    ca: Path  # /ca.pem, fetched with openssl's verification off (we test it below)


@pytest.fixture(scope="module")
def tls_desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsDesk]:
    data_dir = tmp_path_factory.mktemp("tls-desk")
    port = free_port()
    url = f"https://localhost:{port}"
    env = base_env(
        data_dir,
        {"CERTDESK_TLS": "auto", "CERTDESK_PUBLIC_URL": url, "CERTDESK_SERVE_REMINDERS": "false"},
    )
    with live_server(env, port=port, tls=True) as server:
        ca = data_dir / "downloaded-ca.pem"
        fetched = sh(f"{curl()} -sS -k -o {ca} {url}/ca.pem", data_dir)
        assert fetched.returncode == 0, fetched.stderr
        desk = Desk(server=server, data_dir=data_dir)
        yield TlsDesk(desk=desk, cli=Cli(env), url=url, ca=ca)


def curl() -> str:
    return system.binary("curl", "curl")


def test_tls_auto_certificate_verifies_against_ca_pem_for_the_host_name(
    tls_desk: TlsDesk, tmp_path: Path
) -> None:
    checked = sh(
        f"{curl()} -sS --fail-with-body --cacert {tls_desk.ca} {tls_desk.url}/healthz", tmp_path
    )
    assert checked.returncode == 0, checked.stderr
    assert '"status": "ok"' in checked.stdout
    port = tls_desk.url.rsplit(":", 1)[1]
    handshake = subprocess.run(
        [system.binary("openssl", "openssl"), "s_client", "-connect", f"127.0.0.1:{port}",
         "-servername", "localhost", "-verify_hostname", "localhost",
         "-CAfile", str(tls_desk.ca), "-verify_return_error", "-brief"],
        input="", capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert handshake.returncode == 0, handshake.stderr
    assert "Verification: OK" in handshake.stderr
    wrong_name = sh(
        f"{curl()} -sS --cacert {tls_desk.ca} --resolve other.example:{port}:127.0.0.1 "
        f"https://other.example:{port}/healthz",
        tmp_path,
    )
    assert wrong_name.returncode != 0  # the certificate names localhost only


def enroll_over_est(
    tls_desk: TlsDesk, directory: Path, cn: str, request: EnrollmentCreate | None = None
) -> Path:
    """A first certificate with curl and EST simpleenroll over certdesk's TLS."""
    request = request or EnrollmentCreate(cn=cn, ous=["Branch 7"], o="Acme Bank")

    async def create(runtime: Runtime) -> NewEnrollment:
        return await runtime.services.ra.create_enrollment(request, actor="test")

    created = tls_desk.desk.call(create)
    made = openssl(
        "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", str(directory / "key.pem"), "-subj", "/CN=whatever",
        "-outform", "DER", "-out", str(directory / "first.der"),
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    enrolled = sh(
        f"base64 first.der > first.b64 && {curl()} -sS --fail-with-body --cacert {tls_desk.ca} "
        f"--user {created.reference_number}:{created.authorization_code} "
        "--data-binary @first.b64 -H 'Content-Type: application/pkcs10' "
        f"{tls_desk.url}/.well-known/est/simpleenroll"
        " | base64 -d | openssl pkcs7 -inform DER -print_certs > cert.pem",
        directory,
    )
    assert enrolled.returncode == 0, enrolled.stderr
    return directory / "cert.pem"


def reenroll(
    tls_desk: TlsDesk, directory: Path, subject: str, *asked: str
) -> subprocess.CompletedProcess[str]:
    """`curl --cert --key` simplereenroll with a new key's CSR for ``subject`` (``asked``:
    `openssl req` options, such as -addext)."""
    made = openssl(
        "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", str(directory / "new.key"), "-subj", subject, *asked,
        "-outform", "DER", "-out", str(directory / "re.der"),
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    return sh(
        f"base64 re.der > re.b64 && {curl()} -sS -w '%{{http_code}}' -o answer "
        f"--cacert {tls_desk.ca} --cert cert.pem --key key.pem "
        "--data-binary @re.b64 -H 'Content-Type: application/pkcs10' "
        f"{tls_desk.url}/.well-known/est/simplereenroll",
        directory,
    )


def subject_of(path: Path) -> str:
    return openssl("x509", "-in", str(path), "-noout", "-subject").stdout.decode().strip()


def serial_of(path: Path) -> str:
    return format(x509.load_pem_x509_certificate(path.read_bytes()).serial_number, "x")


def test_tls_simplereenroll_with_curl_client_certificate_renews_and_supersedes(
    tls_desk: TlsDesk, tmp_path: Path
) -> None:
    cert = enroll_over_est(tls_desk, tmp_path, "TLS Holder")
    subject = subject_of(cert).removeprefix("subject=")
    result = reenroll(tls_desk, tmp_path, "/" + subject.replace(", ", "/").replace(" = ", "="))
    assert result.stdout == "200", (result.stdout, (tmp_path / "answer").read_text())
    decoded = sh("base64 -d answer | openssl pkcs7 -inform DER -print_certs > new.pem", tmp_path)
    assert decoded.returncode == 0, decoded.stderr
    new = tmp_path / "new.pem"
    assert subject_of(new) == subject_of(cert)
    assert serial_of(new) != serial_of(cert)
    verified = openssl("verify", "-CAfile", str(tls_desk.ca), str(new))
    assert verified.returncode == 0, verified.stderr
    matches = openssl("x509", "-in", str(new), "-noout", "-pubkey").stdout
    assert matches == openssl("pkey", "-in", str(tmp_path / "new.key"), "-pubout").stdout
    old = tls_desk.desk.call(lambda r: certificate_row(r.engine, serial_of(cert)))
    assert (old.status, old.superseded_by) == ("superseded", serial_of(new))

    again = reenroll(tls_desk, tmp_path, "/" + subject.replace(", ", "/").replace(" = ", "="))
    assert again.stdout == "409"  # the superseded certificate renews nothing more
    assert "certificate_not_active" in (tmp_path / "answer").read_text()


def test_tls_simplereenroll_other_subject_refused(tls_desk: TlsDesk, tmp_path: Path) -> None:
    cert = enroll_over_est(tls_desk, tmp_path, "TLS Other Subject")
    result = reenroll(tls_desk, tmp_path, "/CN=Someone Else")
    assert result.stdout == "400"
    assert "subject_mismatch" in (tmp_path / "answer").read_text()
    old = tls_desk.desk.call(lambda r: certificate_row(r.engine, serial_of(cert)))
    assert old.status == "active"


def test_tls_simplereenroll_revoked_client_certificate_refused(
    tls_desk: TlsDesk, tmp_path: Path
) -> None:
    cert = enroll_over_est(tls_desk, tmp_path, "TLS Revoked")
    revoked = tls_desk.cli("ra", "revoke", serial_of(cert), "--reason", "keyCompromise")
    assert revoked.returncode == 0, revoked.output
    subject = subject_of(cert).removeprefix("subject=")
    result = reenroll(tls_desk, tmp_path, "/" + subject.replace(", ", "/").replace(" = ", "="))
    assert result.stdout == "409"
    answer = (tmp_path / "answer").read_text()
    assert "certificate_not_active" in answer
    assert "revoked" in answer


def test_tls_simplereenroll_without_client_certificate_is_401(
    tls_desk: TlsDesk, tmp_path: Path
) -> None:
    (tmp_path / "cert.pem").write_text("")
    result = sh(
        f"{curl()} -sS -w '%{{http_code}}' -o answer --cacert {tls_desk.ca} "
        "--data-binary 'MIIB' -H 'Content-Type: application/pkcs10' "
        f"{tls_desk.url}/.well-known/est/simplereenroll",
        tmp_path,
    )
    assert result.stdout == "401"
    assert "client_certificate_required" in (tmp_path / "answer").read_text()


def curl_renew(tls_desk: TlsDesk, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """curl POST /api/v1/renew over certdesk's TLS with ``new.csr``, authenticated by the client
    certificate ``cert.pem``/``key.pem`` in ``tmp_path``; the body lands in ``answer``."""
    return sh(
        'python3 -c \'import json,sys; print(json.dumps({"csr": open("new.csr").read()}))\''
        f" > body.json && {curl()} -sS -w '%{{http_code}}' -o answer --cacert {tls_desk.ca} "
        "--cert cert.pem --key key.pem -H 'Content-Type: application/json' "
        f"--data-binary @body.json {tls_desk.url}/api/v1/renew",
        tmp_path,
    )


def test_tls_api_renew_with_curl_client_certificate_needs_only_the_csr(
    tls_desk: TlsDesk, tmp_path: Path
) -> None:
    """POST /api/v1/renew over certdesk's TLS: the client certificate stands in for the signed
    challenge, for a certificate that is not on a USB key too."""
    cert = enroll_over_est(tls_desk, tmp_path, "TLS API Holder")
    made = openssl(
        "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", str(tmp_path / "new.key"), "-subj", "/CN=ignored",
        "-out", str(tmp_path / "new.csr"),
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    result = curl_renew(tls_desk, tmp_path)
    assert result.stdout == "201", (result.stdout, (tmp_path / "answer").read_text())
    old = tls_desk.desk.call(lambda r: certificate_row(r.engine, serial_of(cert)))
    assert old.status == "superseded"


MORE_USAGES = (
    "-addext", "extendedKeyUsage=serverAuth,codeSigning,OCSPSigning,clientAuth",
    "-addext", "keyUsage=critical,digitalSignature,keyCertSign,cRLSign",
    "-addext", "basicConstraints=critical,CA:TRUE",
)  # fmt: skip
SMIME = {"ous": ["Branch 7", "RA Shanghai"], "o": "Acme Bank", "profile": "smime"}


def openssl_subject(cert: Path) -> str:
    """The certificate's subject as `openssl req -subj` takes it."""
    subject = subject_of(cert).removeprefix("subject=")
    return "/" + subject.replace(", ", "/").replace(" = ", "=")


def test_tls_simplereenroll_asking_for_more_gets_what_the_certificate_says(
    tls_desk: TlsDesk, tmp_path: Path
) -> None:
    """curl --cert --key with a CSR (same subject) asking for server, code and OCSP signing
    and to be a CA: issued, saying what the current certificate says, profile too; the same
    CSR naming one more subject alternative name is refused and renews nothing."""
    request = EnrollmentCreate(cn="TLS Wide", email="wide@example.com", **SMIME)
    cert = enroll_over_est(tls_desk, tmp_path, "TLS Wide", request)
    wider = reenroll(
        tls_desk, tmp_path, openssl_subject(cert), *MORE_USAGES,
        "-addext", "subjectAltName=email:wide@example.com,DNS:intranet.example",
    )  # fmt: skip
    assert wider.stdout == "400", (tmp_path / "answer").read_text()
    answer = (tmp_path / "answer").read_text()
    assert "subject_mismatch" in answer
    assert "DNS:intranet.example" in answer
    assert tls_desk.desk.call(lambda r: certificate_row(r.engine, serial_of(cert))).status == (
        "active"
    )

    result = reenroll(tls_desk, tmp_path, openssl_subject(cert), *MORE_USAGES)
    assert result.stdout == "200", (tmp_path / "answer").read_text()
    decoded = sh("base64 -d answer | openssl pkcs7 -inform DER -print_certs > new.pem", tmp_path)
    assert decoded.returncode == 0, decoded.stderr
    old = x509.load_pem_x509_certificate(cert.read_bytes())
    new = x509.load_pem_x509_certificate((tmp_path / "new.pem").read_bytes())
    assert_says_no_more(old, new)
    row = tls_desk.desk.call(lambda r: certificate_row(r.engine, serial_of(tmp_path / "new.pem")))
    assert (row.profile, row.owner_email) == ("smime", "wide@example.com")


def test_tls_api_renew_asking_for_more_gets_what_the_certificate_says(
    tls_desk: TlsDesk, tmp_path: Path
) -> None:
    """POST /api/v1/renew with curl's client certificate and a CSR for another CN, OU and O,
    more names and usages: the CSR's content is ignored, the old certificate's kept."""
    request = EnrollmentCreate(cn="TLS API Wide", email="api-wide@example.com", **SMIME)
    cert = enroll_over_est(tls_desk, tmp_path, "TLS API Wide", request)
    made = openssl(
        "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", str(tmp_path / "new.key"), "-subj", "/O=Other Org/OU=Other Unit/CN=Else",
        *MORE_USAGES, "-addext", "subjectAltName=DNS:intranet.example,email:x@elsewhere.example",
        "-out", str(tmp_path / "new.csr"),
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    result = curl_renew(tls_desk, tmp_path)
    assert result.stdout == "201", (result.stdout, (tmp_path / "answer").read_text())
    body = json.loads((tmp_path / "answer").read_text())
    old = x509.load_pem_x509_certificate(cert.read_bytes())
    new = x509.load_pem_x509_certificate(body["certificate"].encode())
    assert_says_no_more(old, new)
    row = tls_desk.desk.call(lambda r: certificate_row(r.engine, body["serial"]))
    assert (row.profile, row.owner_email) == ("smime", "api-wide@example.com")


def test_two_servers_on_one_data_directory_serve_one_pair_that_verifies(tmp_path: Path) -> None:
    """Two `certdesk serve` on one data directory, started together (an earlier version's two
    files left in tls/): one issues the pair under the lock, both serve it, it verifies
    against /ca.pem, and only the pair file and its lock stay in tls/."""
    data_dir = tmp_path / "shared"
    ports = (free_port(), free_port())
    env = base_env(
        data_dir,
        {
            "CERTDESK_TLS": "auto",
            "CERTDESK_PUBLIC_URL": f"https://localhost:{ports[0]}",
            "CERTDESK_SERVE_REMINDERS": "false",
        },
    )
    data_dir.mkdir()
    initialised = Cli(env)("init")
    assert initialised.returncode == 0, initialised.stderr
    (data_dir / "tls").mkdir(mode=0o700)
    for name in ("server-chain.pem", "server-key.pem"):
        (data_dir / "tls" / name).write_text("from an earlier version")
    with ExitStack() as stack, ThreadPoolExecutor(2) as pool:
        starting = [
            pool.submit(stack.enter_context, live_server(env, port=p, tls=True)) for p in ports
        ]
        for started in starting:
            started.result()
        ca = tmp_path / "ca.pem"
        fetched = sh(f"{curl()} -sS -k -o {ca} https://localhost:{ports[1]}/ca.pem", tmp_path)
        assert fetched.returncode == 0, fetched.stderr
        served = [served_certificate(port, ca) for port in ports]
    assert served[0] == served[1]
    assert sorted(p.name for p in (data_dir / "tls").iterdir()) == [
        "server.pem",
        "server.pem.lock",
    ]


def served_certificate(port: int, ca: Path) -> str:
    """The PEM certificate `openssl s_client` verified (host name localhost) on ``port``."""
    handshake = subprocess.run(
        [system.binary("openssl", "openssl"), "s_client", "-connect", f"127.0.0.1:{port}",
         "-servername", "localhost", "-verify_hostname", "localhost",
         "-CAfile", str(ca), "-verify_return_error"],
        input="", capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert handshake.returncode == 0, handshake.stderr
    assert "Verify return code: 0 (ok)" in handshake.stdout
    begin = handshake.stdout.index("-----BEGIN CERTIFICATE-----")
    end = handshake.stdout.index("-----END CERTIFICATE-----") + len("-----END CERTIFICATE-----")
    return handshake.stdout[begin:end]
