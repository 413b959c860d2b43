"""OCSP with stock tools against a real `certdesk serve`: `openssl ocsp` over POST, curl over
GET (RFC 5019), revocation by `certdesk ra revoke` from another process a moment earlier."""

from __future__ import annotations

import base64
import contextlib
import json
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from bot.runtime import Runtime
from enrollment.services import EnrollmentCreate
from enrollment.services.results import IssuedCertificate
from tests.scenarios.conftest import Desk
from tests.support import system
from tests.support.pki import make_csr, openssl
from tests.support.processes import Cli, base_env


def issue(desk: Desk, tmp_path: Path, cn: str) -> Path:
    _, csr = make_csr(tmp_path)

    async def work(runtime: Runtime) -> IssuedCertificate:
        created = await runtime.services.ra.create_enrollment(EnrollmentCreate(cn=cn), actor="t")
        return await runtime.services.links.redeem_enrollment_link(
            created.link.token,
            reference_number=created.reference_number,
            authorization_code=created.authorization_code,
            csr=csr,
        )

    issued = desk.call(work)
    path = tmp_path / f"{issued.serial}.pem"
    path.write_bytes(issued.certificate.public_bytes(serialization.Encoding.PEM))
    return path


@pytest.fixture(scope="module")
def pki(desk: Desk, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """chain.pem (issuing + root, from /ca.pem) and issuing.pem (from /ca.cer, DER)."""
    directory = tmp_path_factory.mktemp("ocsp-pki")
    desk.ca_file(directory).rename(directory / "chain.pem")
    with urllib.request.urlopen(f"{desk.url}/ca.cer", timeout=10) as response:  # noqa: S310
        assert response.headers["Content-Type"] == "application/pkix-cert"
        issuing = x509.load_der_x509_certificate(response.read())
    (directory / "issuing.pem").write_bytes(issuing.public_bytes(serialization.Encoding.PEM))
    return directory


def ask(
    desk: Desk, pki: Path, *target: str, nonce: bool = True
) -> subprocess.CompletedProcess[str]:
    result = openssl(
        "ocsp", "-issuer", str(pki / "issuing.pem"), *target, "-url", f"{desk.url}/ocsp",
        "-CAfile", str(pki / "chain.pem"), "-resp_text", *(() if nonce else ("-no_nonce",)),
    )  # fmt: skip
    return subprocess.CompletedProcess(
        result.args, result.returncode, result.stdout.decode(), result.stderr.decode()
    )


def revoke(desk: Desk, serial: str, reason: str) -> None:
    cli = Cli(base_env(desk.data_dir, {"CERTDESK_PUBLIC_URL": desk.url}))
    result = cli("ra", "revoke", serial, "--reason", reason)
    assert result.returncode == 0, result.stderr


def serial_of(leaf: Path) -> str:
    return format(x509.load_pem_x509_certificate(leaf.read_bytes()).serial_number, "x")


def test_openssl_ocsp_post_good_then_revoked_after_ra_revoke(
    desk: Desk, pki: Path, tmp_path: Path
) -> None:
    leaf = issue(desk, tmp_path, "OCSP Holder")
    good = ask(desk, pki, "-cert", str(leaf))
    assert good.returncode == 0, good.stderr
    assert f"{leaf}: good" in good.stdout
    assert "Response verify OK" in good.stderr
    assert "OCSP Nonce" in good.stdout  # echoed: openssl checks it matches what it sent
    assert "nonce" not in good.stderr.lower()
    assert "Next Update:" in good.stdout

    revoke(desk, serial_of(leaf), "keyCompromise")
    revoked = ask(desk, pki, "-cert", str(leaf))
    assert revoked.returncode == 0, revoked.stderr
    assert f"{leaf}: revoked" in revoked.stdout
    assert "Reason: keyCompromise" in revoked.stdout
    assert "Revocation Time:" in revoked.stdout
    assert "Response verify OK" in revoked.stderr


def test_curl_ocsp_get_good_then_revoked_with_caching_headers(
    desk: Desk, pki: Path, tmp_path: Path
) -> None:
    curl = system.binary("curl", "curl")
    leaf = issue(desk, tmp_path, "OCSP GET Holder")
    made = openssl(
        "ocsp", "-issuer", str(pki / "issuing.pem"), "-cert", str(leaf), "-no_nonce",
        "-reqout", str(tmp_path / "req.der"), "-req_text",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    encoded = base64.b64encode((tmp_path / "req.der").read_bytes()).decode()
    url = f"{desk.url}/ocsp/{encoded.replace('+', '%2B').replace('/', '%2F')}"

    def fetch(name: str) -> tuple[str, str]:
        got = subprocess.run(
            [curl, "-sS", "--fail-with-body", "-D", "-", "-o", str(tmp_path / name), url],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
        assert got.returncode == 0, got.stderr
        read = openssl(
            "ocsp", "-respin", str(tmp_path / name), "-issuer", str(pki / "issuing.pem"),
            "-cert", str(leaf), "-CAfile", str(pki / "chain.pem"), "-resp_text",
        )  # fmt: skip
        assert "Response verify OK" in read.stderr.decode(), read.stderr
        return got.stdout.lower(), read.stdout.decode()

    headers, text = fetch("good.der")
    assert f"{leaf}: good" in text
    assert "content-type: application/ocsp-response" in headers
    assert "cache-control: max-age=" in headers
    assert "public" in headers
    for name in ("expires:", "last-modified:", "etag:"):
        assert name in headers, headers

    revoke(desk, serial_of(leaf), "superseded")
    headers, text = fetch("revoked.der")
    assert f"{leaf}: revoked" in text
    assert "Reason: superseded" in text


def test_openssl_ocsp_unknown_serial_and_another_issuer(
    desk: Desk, pki: Path, tmp_path: Path
) -> None:
    unknown = ask(desk, pki, "-serial", "0x5eed0000cafe", nonce=False)
    assert unknown.returncode == 0, unknown.stderr
    assert "0x5eed0000cafe: unknown" in unknown.stdout
    assert "Response verify OK" in unknown.stderr
    key = tmp_path / "other.key"
    other = openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", str(key), "-subj", "/CN=Someone Else CA", "-days", "1",
        "-out", str(tmp_path / "other.pem"),
    )  # fmt: skip
    assert other.returncode == 0, other.stderr
    foreign = openssl(
        "ocsp", "-issuer", str(tmp_path / "other.pem"), "-serial", "0x01",
        "-url", f"{desk.url}/ocsp", "-no_nonce",
    )  # fmt: skip
    assert "Responder Error: unauthorized (6)" in foreign.stdout.decode() + foreign.stderr.decode()


def test_malformed_bytes_get_malformed_request_with_http_200(desk: Desk, tmp_path: Path) -> None:
    curl = system.binary("curl", "curl")
    sent = subprocess.run(
        [curl, "-sS", "-o", str(tmp_path / "resp.der"), "-w", "%{http_code}",
         "-H", "Content-Type: application/ocsp-request", "--data-binary", "garbage",
         f"{desk.url}/ocsp"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert sent.stdout == "200", sent.stdout + sent.stderr
    read = openssl("ocsp", "-respin", str(tmp_path / "resp.der"), "-resp_text", "-noverify")
    assert "malformedrequest (1)" in (read.stdout + read.stderr).decode()


def test_issued_certificate_names_the_responder_and_the_ca_certificate(
    desk: Desk, pki: Path, tmp_path: Path
) -> None:
    """AIA in a newly issued certificate; the caIssuers URL serves the issuer, DER."""
    leaf = issue(desk, tmp_path, "AIA Holder")
    text = openssl("x509", "-in", str(leaf), "-noout", "-text").stdout.decode()
    assert f"OCSP - URI:{desk.url}/ocsp" in text
    assert f"CA Issuers - URI:{desk.url}/ca.cer" in text
    verified = openssl(
        "verify", "-CAfile", str(pki / "chain.pem"), "-untrusted", str(pki / "issuing.pem"),
        str(leaf),
    )  # fmt: skip
    assert verified.returncode == 0, verified.stderr


def access_records(desk: Desk, path: str) -> list[dict[str, object]]:
    records = []
    for line in desk.server.log().splitlines():
        if line.startswith("{") and '"aiohttp.access"' in line:
            entry = json.loads(line)
            if entry.get("path") == path:
                records.append(entry)
    return records


def test_each_ocsp_request_gets_one_access_record_and_tokens_stay_out(desk: Desk) -> None:
    """The lean access log still writes one JSON record a request at INFO, token redacted."""
    paths = [f"/ocsp/{marker}" for marker in ("bm90LW9jc3A", "c3RpbGwtbm90", "YWdhaW4")]
    secret = "s3cret-link-t0ken-for-the-log-test"
    for path in [*paths, paths[0], f"/enroll/{secret}"]:
        # the unknown link's page is an HTTP error: only its record matters here
        with contextlib.suppress(urllib.error.HTTPError):
            urllib.request.urlopen(f"{desk.url}{path}", timeout=10).close()  # noqa: S310
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not access_records(desk, "/enroll/<token>"):
        time.sleep(0.05)  # the record is written just after the response
    counts = [len(access_records(desk, path)) for path in paths]
    assert counts == [2, 1, 1]
    entry = access_records(desk, paths[1])[0]
    assert entry["level"] == "info"
    assert entry["method"] == "GET"
    assert entry["status"] == 200
    assert entry["msg"] == f"GET {paths[1]} 200"
    assert isinstance(entry["duration_ms"], float | int)
    assert len(access_records(desk, "/enroll/<token>")) == 1
    assert secret not in desk.server.log()
