"""Real OpenSSL as the counterpart: keys, CSRs and verification through the `openssl` CLI."""

from __future__ import annotations

import subprocess
from pathlib import Path


def openssl(*args: str, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["openssl", *args], input=input, capture_output=True, check=False)


def make_csr(directory: Path, *, key: str = "ec", subject: str = "/CN=ignored") -> tuple[Path, str]:
    """A new key and CSR from `openssl req -new`; returns (key path, CSR PEM)."""
    key_path = directory / f"{key}-{len(list(directory.iterdir()))}.key"
    newkey = {
        "ec": ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        "rsa2048": ["-newkey", "rsa:2048"],
        "rsa1024": ["-newkey", "rsa:1024"],
        "ed25519": ["-newkey", "ed25519"],
    }[key]
    result = openssl("req", "-new", *newkey, "-nodes", "-keyout", str(key_path), "-subj", subject)
    assert result.returncode == 0, result.stderr.decode()
    return key_path, result.stdout.decode()


def verify(ca_pem: Path, cert_pem: Path) -> subprocess.CompletedProcess[bytes]:
    return openssl("verify", "-CAfile", str(ca_pem), str(cert_pem))


def subject_line(cert_pem: Path) -> str:
    result = openssl("x509", "-in", str(cert_pem), "-noout", "-subject", "-nameopt", "RFC2253")
    return result.stdout.decode().strip()
