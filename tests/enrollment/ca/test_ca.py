"""The local CA: created once, files protected, certificates that pkilint and OpenSSL accept."""

from __future__ import annotations

import shutil
import stat
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from enrollment.ca.authority import KeyType, build_subject, load_or_create_local_ca
from enrollment.ca.profiles import CLIENT_AUTH, EMAIL_PROTECTION, get_profile
from tests.support.pki import openssl

LINT = shutil.which("lint_pkix_cert") or str(Path(__file__).parents[3] / ".venv/bin/lint_pkix_cert")


def lint(path: Path) -> str:
    """pkilint's findings at WARNING and above (empty when none)."""
    result = subprocess.run(
        [LINT, "lint", "-s", "WARNING", str(path)], capture_output=True, text=True
    )
    return (result.stdout + result.stderr).strip()


def write(path: Path, cert: x509.Certificate) -> Path:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


@pytest.mark.parametrize("key_type", ["ec-p256", "ec-p384", "rsa-2048"])
def test_local_ca_certificates_pass_pkilint_and_openssl(tmp_path: Path, key_type: KeyType) -> None:
    ca = load_or_create_local_ca(
        tmp_path / "ca", key_type=key_type, organization="Acme CA", crl_url="http://ca.test/crl"
    )
    keys = {
        "ec": ec.generate_private_key(ec.SECP256R1()),
        "rsa": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "ed25519": ed25519.Ed25519PrivateKey.generate(),
    }
    for name, key in keys.items():
        cert = ca.issue(
            public_key=key.public_key(),
            subject=build_subject(
                cn="Test Holder 01", ous=["Branch 01", "RA Shanghai"], o="Acme Bank"
            ),
            profile=get_profile("smime"),
            email="holder@example.com",
        )
        leaf = write(tmp_path / f"{name}.pem", cert)
        assert lint(leaf) == "", f"{name}: {lint(leaf)}"
        result = openssl(
            "verify",
            "-CAfile",
            str(tmp_path / "ca/root.pem"),
            "-untrusted",
            str(tmp_path / "ca/issuing.pem"),
            str(leaf),
        )
        assert result.returncode == 0, result.stderr
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        assert ExtendedKeyUsageOID.CLIENT_AUTH in eku
        assert cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
        assert cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
        assert cert.not_valid_after_utc.tzinfo is not None
    for name in ("root.pem", "issuing.pem"):
        assert lint(tmp_path / "ca" / name) == ""


def test_profiles_dotted_usages_are_cryptographys_oids() -> None:
    """profiles.py spells the EKUs as dotted strings so the CLI's help needs no cryptography."""
    assert x509.ObjectIdentifier(CLIENT_AUTH) == ExtendedKeyUsageOID.CLIENT_AUTH
    assert x509.ObjectIdentifier(EMAIL_PROTECTION) == ExtendedKeyUsageOID.EMAIL_PROTECTION


def test_subject_keeps_ous_in_given_order() -> None:
    name = build_subject(cn="A", ous=["Second", "First"], o="O")
    assert [a.value for a in name.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)] == [
        "Second",
        "First",
    ]


def test_local_ca_key_files_are_private_and_reused(tmp_path: Path) -> None:
    first = load_or_create_local_ca(
        tmp_path / "ca", key_type="ec-p256", organization="X", crl_url=None
    )
    for name in ("root.key", "issuing.key"):
        mode = stat.S_IMODE((tmp_path / "ca" / name).stat().st_mode)
        assert mode == 0o600, oct(mode)
    again = load_or_create_local_ca(
        tmp_path / "ca", key_type="rsa-2048", organization="Y", crl_url=None
    )
    assert again.certificate == first.certificate


def test_local_ca_created_concurrently_is_one_ca(tmp_path: Path) -> None:
    def make(_: int) -> x509.Certificate:
        return load_or_create_local_ca(
            tmp_path / "ca", key_type="ec-p256", organization="X", crl_url=None
        ).certificate

    with ThreadPoolExecutor(4) as pool:
        certs = list(pool.map(make, range(4)))
    assert all(c == certs[0] for c in certs)
    leftovers = [p.name for p in (tmp_path / "ca").iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


def test_local_ca_left_part_way_by_a_dead_creator_is_created_again(tmp_path: Path) -> None:
    """A creator killed after writing the keys but before ``issuing.pem`` (which marks a
    complete CA) leaves files that the next start writes over, instead of failing on them."""
    directory = tmp_path / "ca"
    directory.mkdir()
    stale = ec.generate_private_key(ec.SECP256R1())
    for name in ("root.key", "issuing.key"):
        (directory / name).write_bytes(
            stale.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    ca = load_or_create_local_ca(directory, key_type="ec-p256", organization="X", crl_url=None)
    assert ca.private_key.public_key() == ca.certificate.public_key()
    assert ca.certificate.issuer == ca.root.subject
    for name in ("root.key", "issuing.key"):
        assert stat.S_IMODE((directory / name).stat().st_mode) == 0o600
    assert (
        load_or_create_local_ca(
            directory, key_type="ec-p256", organization="Y", crl_url=None
        ).certificate
        == ca.certificate
    )
