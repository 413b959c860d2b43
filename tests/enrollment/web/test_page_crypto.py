"""The page's hand-written DER / PKCS#10 / PKCS#12 code, run under Node's WebCrypto and
checked with OpenSSL 3 (the counterpart Windows- and macOS-compatible files must satisfy)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from enrollment.ca.authority import IssuingCA, build_subject, create_ca_pair
from enrollment.ca.csr import validated_public_key
from enrollment.ca.profiles import get_profile
from tests.support import system
from tests.support.p12 import assert_compatible, java_import, nss_import, p12_info
from tests.support.pki import openssl

STATIC = Path(__file__).resolve().parents[3] / "enrollment" / "web" / "static"
DRIVER = Path(__file__).resolve().parent / "js" / "pkcs_driver.mjs"


@pytest.fixture(scope="module")
def node_modules(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The static modules copied next to a package.json that makes Node load them as ESM."""
    node = system.binary("node", "nodejs")
    assert node
    directory = tmp_path_factory.mktemp("static")
    for path in STATIC.glob("*.js"):
        shutil.copy(path, directory / path.name)
    (directory / "package.json").write_text('{"type": "module"}')
    return directory


@pytest.fixture(scope="module")
def ca() -> IssuingCA:
    root, _, issuing, key = create_ca_pair(key_type="ec-p256", organization="Page Test")
    return IssuingCA(certificate=issuing, private_key=key, root=root)


def run(node_modules: Path, command: str, job: dict[str, Any] | None = None) -> dict[str, Any]:
    result = subprocess.run(
        ["node", str(DRIVER), str(node_modules), command],
        input=json.dumps(job or {}),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def make_p12(
    node_modules: Path,
    ca: IssuingCA,
    *,
    key_type: str,
    password: str,
    friendly_name: str = "Test Holder 01 (1234567890)",
    iterations: int | None = 2048,
    file_format: str | None = None,
) -> tuple[bytes, x509.Certificate]:
    made = run(node_modules, "csr", {"keyType": key_type})
    cert = ca.issue(
        public_key=validated_public_key(made["csr"]),
        subject=build_subject(cn="Test Holder 01", ous=["Branch 01"], o="Acme Bank"),
        profile=get_profile("client"),
    )
    job = {
        "pkcs8": made["pkcs8"],
        "spki": made["spki"],
        "certificates": [base64.b64encode(der(c)).decode() for c in (cert, *ca.chain)],
        "password": password,
        "friendlyName": friendly_name,
        "iterations": iterations,
        "format": file_format,
    }
    return base64.b64decode(run(node_modules, "p12", job)["p12"]), cert


def test_der_encoder_matches_known_encodings(node_modules: Path) -> None:
    got = run(node_modules, "vectors")
    assert got == {
        "int0": "020100",
        "int127": "02017f",
        "int128": "02020080",
        "int65537": "0203010001",
        "intBytes": "0203008001",
        "oidRsa": "06062a864886f70d",
        "oidJoint": "0603883703",
        "len200": "0481c8",
        "len300": "0482012c",
        "len70000": "0483011170",
        "set": "310902010102010204010" + "0",
        "bmp": "1e06004100e94e2d",
        "pemRoundTrip": "010203",
    }


@pytest.mark.parametrize("key_type", ["ec-p256", "rsa-2048"])
def test_page_csr_verifies_with_openssl_and_policy(
    node_modules: Path, tmp_path: Path, key_type: str
) -> None:
    made = run(node_modules, "csr", {"keyType": key_type})
    csr_path = tmp_path / "req.pem"
    csr_path.write_text(made["csr"])
    checked = openssl("req", "-in", str(csr_path), "-noout", "-verify")
    assert checked.returncode == 0, checked.stderr
    assert b"verify OK" in checked.stdout + checked.stderr
    public_key = validated_public_key(made["csr"])
    key = serialization.load_der_private_key(base64.b64decode(made["pkcs8"]), None)
    assert key.public_key() == public_key


@pytest.mark.parametrize(
    ("key_type", "password"),
    [("ec-p256", "correct horse battery"), ("rsa-2048", "Pässwörd 证书 密码")],
)
def test_page_pkcs12_opens_with_openssl_defaults(
    node_modules: Path, ca: IssuingCA, tmp_path: Path, key_type: str, password: str
) -> None:
    data, cert = make_p12(node_modules, ca, key_type=key_type, password=password)
    path = tmp_path / "cert.p12"
    path.write_bytes(data)

    opened = openssl("pkcs12", "-in", str(path), "-passin", f"pass:{password}", "-nodes")
    assert opened.returncode == 0, opened.stderr
    text = opened.stdout.decode()
    assert "friendlyName: Test Holder 01 (1234567890)" in text
    assert text.count("BEGIN CERTIFICATE") == 3
    assert "BEGIN PRIVATE KEY" in text

    info = openssl("pkcs12", "-in", str(path), "-passin", f"pass:{password}", "-info", "-noout")
    details = info.stderr.decode()
    assert "MAC: sha256, Iteration 2048" in details
    pbes2 = "PBES2, PBKDF2, AES-256-CBC, Iteration 2048, PRF hmacWithSHA256"
    assert f"PKCS7 Encrypted data: {pbes2}" in details
    assert f"Shrouded Keybag: {pbes2}" in details

    key, leaf, extra = pkcs12.load_key_and_certificates(data, password.encode())
    assert key is not None
    assert leaf == cert
    assert key.public_key() == cert.public_key()
    assert extra == list(ca.chain)
    loaded = pkcs12.load_pkcs12(data, password.encode())
    assert loaded.cert is not None
    assert loaded.cert.friendly_name == b"Test Holder 01 (1234567890)"

    wrong = openssl("pkcs12", "-in", str(path), "-passin", "pass:not the password", "-nodes")
    assert wrong.returncode != 0
    assert b"mac verify error" in wrong.stderr.lower()


def pkcs12_kdf(
    password: str, salt: bytes, iterations: int, id_: int, length: int, hash_name: str = "sha256"
) -> bytes:
    """RFC 7292 appendix B.2 over SHA-256 or SHA-1, written independently of the page's code."""
    v, u = 64, hashlib.new(hash_name).digest_size

    def stretch(data: bytes) -> bytes:
        size = v * -(-len(data) // v)
        return bytes(data[i % len(data)] for i in range(size))

    pw = password.encode("utf-16-be") + b"\0\0"
    block = bytearray(stretch(salt) + stretch(pw))
    out = b""
    for _ in range(-(-length // u)):
        a = hashlib.new(hash_name, bytes([id_]) * v + bytes(block)).digest()
        for _ in range(iterations - 1):
            a = hashlib.new(hash_name, a).digest()
        out += a
        b = int.from_bytes(stretch(a)[:v], "big")
        for j in range(0, len(block), v):
            chunk = int.from_bytes(block[j : j + v], "big")
            block[j : j + v] = ((chunk + b + 1) % (1 << (8 * v))).to_bytes(v, "big")
    return out[:length]


def test_page_pkcs12_kdf_matches_rfc7292(node_modules: Path) -> None:
    salt = bytes(range(16))
    for password in ("smeg", "Pässwörd 证书"):
        got = run(
            node_modules,
            "kdf",
            {
                "password": password,
                "salt": base64.b64encode(salt).decode(),
                "iterations": 1000,
                "id": 3,
                "length": 32,
            },
        )
        assert got["key"] == pkcs12_kdf(password, salt, 1000, 3, 32).hex()


@pytest.mark.parametrize(("id_", "length"), [(1, 24), (2, 8), (3, 20)])
def test_page_pkcs12_kdf_over_sha1_matches_rfc7292(
    node_modules: Path, id_: int, length: int
) -> None:
    """The compatible format's key (24 bytes: two SHA-1 blocks), IV and MAC key."""
    salt = bytes(range(8))
    for password in ("smeg", "Pässwörd 证书"):
        got = run(
            node_modules,
            "kdf",
            {
                "password": password,
                "salt": base64.b64encode(salt).decode(),
                "iterations": 2048,
                "id": id_,
                "length": length,
                "hash": "SHA-1",
            },
        )
        assert got["key"] == pkcs12_kdf(password, salt, 2048, id_, length, "sha1").hex()


@pytest.mark.parametrize("size", [0, 1, 7, 8, 9, 1000])
def test_page_triple_des_matches_openssl(node_modules: Path, size: int) -> None:
    """tripledes.js against `openssl enc -des-ede3-cbc` (PKCS#7 padding) on random data."""
    key, iv, data = os.urandom(24), os.urandom(8), os.urandom(size)
    job = {k: base64.b64encode(v).decode() for k, v in (("key", key), ("iv", iv), ("data", data))}
    got = base64.b64decode(run(node_modules, "3des", job)["ciphertext"])
    expected = openssl("enc", "-des-ede3-cbc", "-K", key.hex(), "-iv", iv.hex(), input=data)
    assert expected.returncode == 0, expected.stderr
    assert got == expected.stdout


@pytest.mark.parametrize(
    ("key_type", "password"),
    [("ec-p256", "Pässwörd 证书 密码"), ("rsa-2048", "correct horse battery")],
)
def test_page_compatible_pkcs12_is_legacy_and_imports_everywhere(
    node_modules: Path, ca: IssuingCA, tmp_path: Path, key_type: str, password: str
) -> None:
    """The compatible file: 3DES bags and a SHA-1 MAC at 2,048 iterations; OpenSSL (without
    -legacy), NSS and Java open it, with the key matching the certificate. (Java's keytool
    refuses non-ASCII passwords even on files OpenSSL makes, so it gets the ASCII one.)"""
    data, cert = make_p12(
        node_modules, ca, key_type=key_type, password=password, iterations=None,
        file_format="compatible",
    )  # fmt: skip
    path = tmp_path / "compatible.p12"
    path.write_bytes(data)
    info = p12_info(path, password)
    assert_compatible(info)
    assert info.count("Iteration 2048") == 3, info
    key, leaf, extra = pkcs12.load_key_and_certificates(data, password.encode())
    assert key is not None
    assert leaf == cert
    assert key.public_key() == cert.public_key()
    assert extra == list(ca.chain)
    assert "Test Holder 01" in nss_import(path, password, tmp_path)
    if password.isascii():
        assert "PrivateKeyEntry" in java_import(path, password, tmp_path)


def test_ca_fixture_is_valid(ca: IssuingCA) -> None:
    assert ca.certificate.not_valid_after_utc - ca.certificate.not_valid_before_utc > timedelta(
        days=1
    )
