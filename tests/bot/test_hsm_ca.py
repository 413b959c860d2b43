"""The issuing CA with its key on a real SoftHSM2 token (``enrollment/hsm.py`` wired by
``bot/runtime.py``); OpenSSL judges certificates and CRLs."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pkcs11
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from pkcs11 import Attribute, ObjectClass

from bot.database import upgrade_async
from bot.runtime import Runtime, open_runtime
from bot.settings import Settings
from enrollment.services import EnrollmentCreate
from enrollment.services.results import IssuedCertificate
from tests.support.pki import make_csr, openssl, verify
from tests.support.postgres import free_port
from tests.support.processes import Cli
from tests.support.softhsm import PIN, SoftHsm, process_softhsm
from usbkey.pkcs11.keys import TokenECPrivateKey
from usbkey.pkcs11.session import choose_token, logged_in, open_module

KEY_LABEL = "certdesk issuing CA"


@pytest.fixture(scope="module")
def hsm(tmp_path_factory: pytest.TempPathFactory) -> SoftHsm:
    return process_softhsm(tmp_path_factory.mktemp("softhsm"))


@pytest.fixture
def token_label(hsm: SoftHsm) -> str:
    label = f"ca-{uuid.uuid4().hex[:8]}"
    hsm.new_token(label)
    return label


@pytest.fixture
async def hsm_settings(
    settings_factory: Callable[..., Settings], hsm: SoftHsm, token_label: str
) -> Settings:
    settings = settings_factory(
        ca_pkcs11_module=hsm.module, ca_pkcs11_token_label=token_label, ca_pkcs11_pin=PIN
    )
    if not settings.is_embedded_sqlite:
        await upgrade_async(settings.database_url)
    return settings


async def issue(runtime: Runtime, tmp_path: Path, cn: str = "HSM Holder") -> IssuedCertificate:
    created = await runtime.services.ra.create_enrollment(EnrollmentCreate(cn=cn), actor="test")
    _, csr = make_csr(tmp_path)
    return await runtime.services.links.redeem_enrollment_link(
        created.link.token,
        reference_number=created.reference_number,
        authorization_code=created.authorization_code,
        csr=csr,
    )


def write(path: Path, *items: x509.Certificate) -> Path:
    path.write_bytes(b"".join(i.public_bytes(serialization.Encoding.PEM) for i in items))
    return path


async def test_hsm_ca_issues_certificate_that_openssl_verifies(
    hsm_settings: Settings, tmp_path: Path
) -> None:
    async with open_runtime(hsm_settings) as runtime:
        assert isinstance(runtime.ca.private_key, TokenECPrivateKey)
        issued = await issue(runtime, tmp_path)
        chain = write(tmp_path / "chain.pem", *runtime.ca.chain)
    result = verify(chain, write(tmp_path / "cert.pem", issued.certificate))
    assert result.returncode == 0, result.stderr.decode()
    assert (hsm_settings.data_dir / "ca-hsm" / "issuing.pem").exists()
    assert not (hsm_settings.data_dir / "ca-hsm" / "issuing.key").exists()


async def test_hsm_ca_signs_crl_that_openssl_verifies(
    hsm_settings: Settings, tmp_path: Path
) -> None:
    async with open_runtime(hsm_settings) as runtime:
        issued = await issue(runtime, tmp_path)
        await runtime.services.revocation.revoke(
            issued.serial, reason="keyCompromise", actor="test"
        )
        der = await runtime.services.revocation.current_crl()
        chain = write(tmp_path / "chain.pem", *runtime.ca.chain)
    (tmp_path / "crl.der").write_bytes(der)
    result = openssl(
        "crl", "-inform", "DER", "-in", str(tmp_path / "crl.der"), "-CAfile", str(chain), "-noout"
    )
    assert result.returncode == 0, result.stderr.decode()
    assert "verify OK" in result.stderr.decode()
    crl = x509.load_der_x509_crl(der)
    assert crl.get_revoked_certificate_by_serial_number(issued.certificate.serial_number)


async def test_hsm_ca_key_is_sensitive_and_not_extractable(
    hsm_settings: Settings, hsm: SoftHsm, token_label: str
) -> None:
    async with open_runtime(hsm_settings):
        pass
    token = choose_token(open_module(hsm.module), hsm.module, token_label)
    with logged_in(token, PIN) as session:
        keys = list(
            session.get_objects(
                {Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.LABEL: KEY_LABEL}
            )
        )
        assert len(keys) == 1
        key = keys[0]
        assert key[Attribute.SENSITIVE] is True
        assert key[Attribute.EXTRACTABLE] is False
        assert key[Attribute.ALWAYS_SENSITIVE] is True
        assert key[Attribute.NEVER_EXTRACTABLE] is True
        with pytest.raises(pkcs11.exceptions.AttributeSensitive):
            key[Attribute.VALUE]


async def test_hsm_ca_restart_reuses_key_and_certificate(
    hsm_settings: Settings, tmp_path: Path
) -> None:
    async with open_runtime(hsm_settings) as first:
        certificate = first.ca.certificate
    async with open_runtime(hsm_settings) as second:
        assert second.ca.certificate == certificate
        issued = await issue(second, tmp_path)
    issued.certificate.verify_directly_issued_by(certificate)


async def test_hsm_ca_concurrent_issuance_signs_every_certificate(
    hsm_settings: Settings, tmp_path: Path
) -> None:
    """Signing runs in worker threads on one PKCS#11 session: the lock keeps it correct."""
    async with open_runtime(hsm_settings) as runtime:
        directories = [tmp_path / f"c{i}" for i in range(8)]
        for directory in directories:
            directory.mkdir()
        issued = await asyncio.gather(
            *(issue(runtime, d, cn=f"Holder {i}") for i, d in enumerate(directories))
        )
        for item in issued:
            item.certificate.verify_directly_issued_by(runtime.ca.certificate)
    assert len({item.serial for item in issued}) == 8


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({"CERTDESK_CA_PKCS11_PIN": "999999"}, "CERTDESK_CA_PKCS11_PIN is wrong"),
        ({"CERTDESK_CA_PKCS11_TOKEN_LABEL": "no-such-token"}, "no token labelled 'no-such-token'"),
        ({"CERTDESK_CA_PKCS11_MODULE": "TEXT_FILE"}, "cannot be loaded as a PKCS#11 module"),
    ],
    ids=["wrong-pin", "missing-token", "wrong-module"],
)
def test_serve_with_unusable_hsm_exits_2_naming_the_setting(
    cli: Cli,
    hsm: SoftHsm,
    token_label: str,
    tmp_path: Path,
    variables: dict[str, str],
    expected: str,
) -> None:
    env: dict[str, Any] = {
        **hsm.env,
        "CERTDESK_CA_PKCS11_MODULE": hsm.module,
        "CERTDESK_CA_PKCS11_TOKEN_LABEL": token_label,
        "CERTDESK_CA_PKCS11_PIN": PIN,
        **variables,
    }
    if env["CERTDESK_CA_PKCS11_MODULE"] == "TEXT_FILE":
        text = tmp_path / "module.so"
        text.write_text("not a library\n")
        env["CERTDESK_CA_PKCS11_MODULE"] = str(text)
    result = cli("serve", "--port", str(free_port()), env=env)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "certdesk: cannot start the issuing CA: " in result.stderr
    assert expected in result.stderr
    assert "Traceback" not in result.stderr


async def test_hsm_ca_certifies_the_ocsp_signer_and_openssl_accepts_its_answers(
    hsm_settings: Settings, tmp_path: Path, aiohttp_client: Callable[..., Any]
) -> None:
    """The HSM signs the delegated OCSP certificate; the responder's file key signs answers."""
    from cryptography.x509 import ocsp

    from bot.app import RUNTIME, create_app
    from enrollment.protocols.ocsp.http import RESPONDER

    client = await aiohttp_client(create_app(hsm_settings))
    runtime: Runtime = client.app[RUNTIME]
    assert isinstance(runtime.ca.private_key, TokenECPrivateKey)
    signer = client.app[RESPONDER].signer
    assert signer is not None
    signer.certificate.verify_directly_issued_by(runtime.ca.certificate)
    key_file = hsm_settings.data_dir / "ca-hsm" / "ocsp-signer.pem"
    assert key_file.stat().st_mode & 0o777 == 0o600
    issued = await issue(runtime, tmp_path)
    chain = write(tmp_path / "chain.pem", *runtime.ca.chain)
    issuing = write(tmp_path / "issuing.pem", runtime.ca.certificate)
    leaf = write(tmp_path / "leaf.pem", issued.certificate)

    async def status(name: str) -> str:
        request = ocsp.OCSPRequestBuilder().add_certificate(
            issued.certificate,
            runtime.ca.certificate,
            hashes.SHA1(),  # noqa: S303 (what openssl matches by default)
        )
        der = request.build().public_bytes(serialization.Encoding.DER)
        response = await client.post("/ocsp", data=der)
        (tmp_path / name).write_bytes(await response.read())
        read = openssl(
            "ocsp", "-respin", str(tmp_path / name), "-issuer", str(issuing),
            "-cert", str(leaf), "-CAfile", str(chain),
        )  # fmt: skip
        assert "Response verify OK" in read.stderr.decode(), read.stderr
        return read.stdout.decode()

    assert f"{leaf}: good" in await status("good.der")
    await runtime.services.revocation.revoke(issued.serial, reason="keyCompromise", actor="t")
    assert f"{leaf}: revoked" in await status("revoked.der")
