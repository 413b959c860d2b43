"""The holders' importers, run on a ``.p12``: OpenSSL's view of its algorithms, NSS
(``pk12util`` into a throwaway database, as Firefox and Chrome on Linux keep keys) and Java
(``keytool -importkeystore``)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.support import system
from tests.support.pki import openssl


def p12_info(path: Path, password: str) -> str:
    """``openssl pkcs12 -info``'s description of the MAC and the bags (no key printed)."""
    shown = openssl("pkcs12", "-info", "-noout", "-in", str(path), "-passin", f"pass:{password}")
    assert shown.returncode == 0, shown.stderr.decode()
    return shown.stderr.decode() + shown.stdout.decode()


def assert_compatible(info: str) -> None:
    """3DES for the key and the certificates, an HMAC-SHA1 MAC of 2,048 or more iterations."""
    mac = next(line for line in info.splitlines() if line.startswith("MAC:"))
    assert mac.startswith("MAC: sha1,"), info
    assert int(mac.rsplit("Iteration", 1)[1].strip()) >= 2048, info
    assert "Shrouded Keybag: pbeWithSHA1And3-KeyTripleDES-CBC" in info, info
    assert "PKCS7 Encrypted data: pbeWithSHA1And3-KeyTripleDES-CBC" in info, info
    assert "AES" not in info, info


def assert_modern(info: str) -> None:
    """PBES2 with AES-256-CBC for the key and the certificates, an HMAC-SHA256 MAC."""
    assert "MAC: sha256," in info, info
    assert "Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC" in info, info
    assert "PKCS7 Encrypted data: PBES2, PBKDF2, AES-256-CBC" in info, info


def nss_import(path: Path, password: str, directory: Path) -> str:
    """Import into a new NSS database; returns ``certutil -L``'s listing of it."""
    pk12util = system.binary("pk12util", "libnss3-tools")
    certutil = system.binary("certutil", "libnss3-tools")
    database = directory / "nssdb"
    database.mkdir()
    created = subprocess.run(
        [certutil, "-N", "-d", f"sql:{database}", "--empty-password"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert created.returncode == 0, created.stderr
    imported = subprocess.run(
        [pk12util, "-i", str(path), "-d", f"sql:{database}", "-W", password, "-K", ""],
        capture_output=True,
        text=True,
        check=False,
    )
    assert imported.returncode == 0, imported.stdout + imported.stderr
    keys = subprocess.run(
        [certutil, "-K", "-d", f"sql:{database}"], capture_output=True, text=True, check=False
    )
    assert keys.returncode == 0, keys.stderr
    listed = subprocess.run(
        [certutil, "-L", "-d", f"sql:{database}"], capture_output=True, text=True, check=False
    )
    return listed.stdout + keys.stdout


def java_import(path: Path, password: str, directory: Path) -> str:
    """``keytool -importkeystore`` into a new keystore; returns ``keytool -list``'s output."""
    keytool = system.binary("keytool", "default-jre-headless")
    store = directory / "java.p12"
    imported = subprocess.run(
        [
            keytool, "-importkeystore", "-noprompt",
            "-srckeystore", str(path), "-srcstoretype", "PKCS12", "-srcstorepass", password,
            "-destkeystore", str(store), "-deststoretype", "PKCS12", "-deststorepass", password,
        ],
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    assert imported.returncode == 0, imported.stdout + imported.stderr
    listed = subprocess.run(
        [keytool, "-list", "-keystore", str(store), "-storepass", password],
        capture_output=True,
        text=True,
        check=False,
    )
    assert listed.returncode == 0, listed.stdout + listed.stderr
    return listed.stdout
