"""What the fault tests need to talk to a real `certdesk serve`: plain HTTP and fresh CSRs."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from bot.runtime import open_runtime
from bot.settings import Settings
from enrollment.services import EnrollmentCreate


def csr_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ignored")])
    csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def call(
    method: str, url: str, payload: dict[str, Any] | None = None, *, timeout: float = 30
) -> tuple[int, Any]:
    """(status, parsed JSON body or the text) of one request; connection errors propagate."""
    data = None if payload is None else json.dumps(payload).encode()
    headers = {} if data is None else {"Content-Type": "application/json"}
    request = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            status, body = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, body = error.code, error.read()
    try:
        return status, json.loads(body)
    except ValueError:
        return status, body.decode(errors="replace")


def enroll(url: str, issued: dict[str, str]) -> tuple[int, Any]:
    """Redeem an enrollment's link (``ra issue --json`` output) with a new CSR."""
    token = issued["link"].rstrip("/").rsplit("/", 1)[-1]
    return call(
        "POST",
        f"{url}/api/v1/enroll/{token}",
        {
            "reference_number": issued["reference_number"],
            "authorization_code": issued["authorization_code"],
            "csr": csr_pem(),
        },
    )


def settings(data_dir: Path) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=data_dir,
        database_url_=None,
        public_url="http://127.0.0.1",
        slack_bot_token=None,
        slack_signing_secret=None,
        slack_app_token=None,
    )


def create_enrollments(
    data_dir: Path, count: int, *, profile: str = "client"
) -> list[dict[str, str]]:
    """``count`` pending enrollments, made through the RA use case before the server starts."""

    async def go() -> list[dict[str, str]]:
        async with open_runtime(settings(data_dir)) as runtime:
            made = []
            for number in range(count):
                request = EnrollmentCreate(
                    cn=f"Burst Holder {number:03d}", ous=["Burst"], profile=profile
                )
                created = await runtime.services.ra.create_enrollment(request, actor="fault")
                made.append(
                    {
                        "token": created.link.token,
                        "reference_number": created.reference_number,
                        "authorization_code": created.authorization_code,
                    }
                )
            return made

    return asyncio.run(go())


def redeem(url: str, enrollment: dict[str, str]) -> tuple[int, object]:
    try:
        return call(
            "POST",
            f"{url}/api/v1/enroll/{enrollment['token']}",
            {
                "reference_number": enrollment["reference_number"],
                "authorization_code": enrollment["authorization_code"],
                "csr": csr_pem(),
            },
        )
    except OSError as error:  # the server died under this request
        return 0, repr(error)
