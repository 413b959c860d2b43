"""What the fault tests need to talk to a real `certdesk serve`: plain HTTP and fresh CSRs."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


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
