"""Redeeming a one-time enrollment link: with a CSR or a server-made key (PKCS#12), once."""

from __future__ import annotations

import asyncio
import os
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from sqlmodel import select

from bot.runtime import Runtime
from common.time import utcnow
from enrollment.ca.authority import IssuingCA
from enrollment.ca.pkcs12 import generate_server_key
from enrollment.db import session_factory
from enrollment.errors import (
    CsrMalformed,
    CsrSignatureInvalid,
    EnrollmentNotPending,
    KeyNotAllowed,
    LinkExpired,
    LinkUnknown,
    LinkUsed,
    PasswordInvalid,
    PolicyError,
    RequestInvalid,
    WrongCredentials,
)
from enrollment.models import Certificate, OneTimeLink
from enrollment.services import Services
from enrollment.services._packaging import PACKAGER, PACKAGER_NICENESS
from enrollment.services._signing import KEY_MAKERS, KEYGEN_NICENESS
from enrollment.services.results import ServerKey
from tests.enrollment.conftest import HOLDER, create, redeem
from tests.support.pki import make_csr
from tests.support.store import certificate_row, count_rows, enrollment_view, snapshot


def read_tree(root: Path) -> list[tuple[Path, bytes]]:
    return [(path, path.read_bytes()) for path in root.rglob("*") if path.is_file()]


async def test_redeem_issues_certificate_with_enrollment_subject(
    runtime: Runtime, services: Services, tmp_path: Path
) -> None:
    created = await create(services)
    _, csr = make_csr(tmp_path, key="rsa2048", subject="/CN=Mallory/O=Evil Corp")
    issued = await redeem(
        services, created, csr, code=created.authorization_code.lower().replace("-", " ")
    )
    subject = issued.certificate.subject
    assert subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Test Holder 01"
    assert [a.value for a in subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)] == [
        "Branch 01",
        "RA Shanghai",
    ]
    assert subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Acme Bank"
    assert issued.certificate.serial_number.bit_length() >= 128
    enrollment = await enrollment_view(runtime.engine, created.reference_number)
    assert enrollment.status == "issued"


async def test_redeem_twice_refuses_used_link(services: Services, tmp_path: Path) -> None:
    created = await create(services)
    _, csr = make_csr(tmp_path)
    await redeem(services, created, csr)
    with pytest.raises(LinkUsed):
        await redeem(services, created, csr)


async def test_concurrent_redemptions_yield_exactly_one_certificate(
    runtime: Runtime, services: Services, tmp_path: Path
) -> None:
    created = await create(services)
    _, csr = make_csr(tmp_path)
    results = await asyncio.gather(
        *(redeem(services, created, csr) for _ in range(20)), return_exceptions=True
    )
    issued = [r for r in results if isinstance(r, object) and hasattr(r, "certificate")]
    refused = [r for r in results if isinstance(r, LinkUsed)]
    assert len(issued) == 1, results
    assert len(refused) == 19, results
    assert await count_rows(runtime.engine, Certificate) == 1


@pytest.mark.parametrize(
    ("csr", "error"),
    [
        ("garbage", CsrMalformed),
        ("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", CsrMalformed),
    ],
)
async def test_bad_csr_changes_nothing(
    runtime: Runtime, services: Services, csr: str, error: type[Exception]
) -> None:
    created = await create(services)
    before = await snapshot(runtime)
    with pytest.raises(error):
        await redeem(services, created, csr)
    assert await snapshot(runtime) == before


async def test_weak_key_and_broken_signature_are_refused(
    runtime: Runtime, services: Services, tmp_path: Path
) -> None:
    created = await create(services)
    before = await snapshot(runtime)
    _, weak = make_csr(tmp_path, key="rsa1024")
    with pytest.raises(KeyNotAllowed, match="RSA-1024"):
        await redeem(services, created, weak)
    _, good = make_csr(tmp_path)
    csr = x509.load_pem_x509_csr(good.encode())
    der = bytearray(
        csr.public_bytes(__import__("cryptography").hazmat.primitives.serialization.Encoding.DER)
    )
    der[-5] ^= 0x01  # flip a bit inside the signature
    with pytest.raises(CsrSignatureInvalid):
        await redeem(services, created, bytes(der))
    assert await snapshot(runtime) == before


async def test_wrong_reference_number_counts_as_wrong_credentials(
    services: Services, tmp_path: Path
) -> None:
    created = await create(services)
    _, csr = make_csr(tmp_path)
    with pytest.raises(WrongCredentials):
        await services.links.redeem_enrollment_link(
            created.link.token,
            reference_number="1234567890",
            authorization_code=created.authorization_code,
            csr=csr,
        )


async def test_unknown_and_expired_links_are_refused(
    runtime: Runtime, services: Services, tmp_path: Path
) -> None:
    created = await create(services)
    _, csr = make_csr(tmp_path)
    with pytest.raises(LinkUnknown):
        await services.links.redeem_enrollment_link(
            "no-such-token",
            reference_number=created.reference_number,
            authorization_code=created.authorization_code,
            csr=csr,
        )
    sessions = session_factory(runtime.engine)
    async with sessions() as session, session.begin():
        link = (await session.execute(select(OneTimeLink))).scalars().one()
        link.expires_at = utcnow() - timedelta(seconds=1)
        session.add(link)
    with pytest.raises(LinkExpired):
        await redeem(services, created, csr)


async def test_concurrent_redemptions_of_two_links_of_one_enrollment_yield_one_certificate(
    runtime: Runtime, services: Services, tmp_path: Path
) -> None:
    """Each link is claimed by its own row; the enrollment claim makes the second refuse: one
    certificate, one link used."""
    created = await create(services)
    second = await services.ra.new_enrollment_link(created.reference_number, actor="test")
    _, csr = make_csr(tmp_path)

    async def via(token: str) -> object:
        return await services.links.redeem_enrollment_link(
            token,
            reference_number=created.reference_number,
            authorization_code=created.authorization_code,
            csr=csr,
        )

    tokens = [created.link.token, second.token] * 5
    results = await asyncio.gather(*(via(t) for t in tokens), return_exceptions=True)
    issued = [r for r in results if hasattr(r, "certificate")]
    assert len(issued) == 1, results
    assert all(isinstance(r, LinkUsed | EnrollmentNotPending) for r in results if r not in issued)
    assert await count_rows(runtime.engine, Certificate) == 1
    async with session_factory(runtime.engine)() as session:
        links = (await session.execute(select(OneTimeLink))).scalars().all()
    assert sum(link.used_at is not None for link in links) == 1


async def test_server_key_refused_when_profile_forbids(
    runtime: Runtime,
    services: Services,
) -> None:
    created = await services.ra.create_enrollment(HOLDER, actor="test")
    before = await snapshot(runtime)
    with pytest.raises(PolicyError, match="does not allow"):
        await services.links.redeem_enrollment_link_pkcs12(
            created.link.token,
            reference_number=created.reference_number,
            authorization_code=created.authorization_code,
            server_key=ServerKey(password="correct horse"),
        )
    assert await snapshot(runtime) == before


async def test_server_key_pkcs12_opens_and_key_is_stored_nowhere(
    runtime: Runtime, services: Services, data_dir: Path
) -> None:
    created = await services.ra.create_enrollment(
        HOLDER.model_copy(update={"profile": "client-keygen"}), actor="test"
    )
    package = await services.links.redeem_enrollment_link_pkcs12(
        created.link.token,
        reference_number=created.reference_number,
        authorization_code=created.authorization_code,
        server_key=ServerKey(password="correct horse", key_type="ec-p256"),
    )
    assert "correct horse" not in repr(package)
    key, cert, extra = pkcs12.load_key_and_certificates(package.data, b"correct horse")
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert cert is not None
    assert cert.public_key() == key.public_key()
    assert cert.serial_number == package.issued.certificate.serial_number
    assert [c.subject for c in extra] == [c.subject for c in services.ca.chain]
    assert package.filename == "Test-Holder-01-" + created.reference_number + ".p12"
    record = await certificate_row(runtime.engine, package.issued.serial)
    assert record.delivery == "server"

    secret = key.private_numbers().private_value.to_bytes(32, "big")
    pkcs8 = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    for path, content in await asyncio.to_thread(read_tree, data_dir):
        assert secret not in content, path
        assert pkcs8 not in content, path
    dumped = repr(await snapshot(runtime))
    assert secret.hex() not in dumped


def test_server_key_request_is_validated() -> None:
    with pytest.raises(PasswordInvalid, match="at least 8"):
        ServerKey(password="short")
    with pytest.raises(RequestInvalid, match="not offered"):
        ServerKey(password="long enough", key_type="rsa-1024")  # type: ignore[arg-type]
    assert "long enough" not in repr(ServerKey(password="long enough"))


async def test_server_key_work_runs_off_the_event_loop(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Key generation, signing and PKCS#12 encryption never run on the event loop's thread:
    each records whether a loop was running where it was called."""
    import enrollment.services._signing as signing_module

    on_loop: dict[str, bool] = {}

    def watched(name: str, function: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                asyncio.get_running_loop()
                on_loop[name] = True
            except RuntimeError:  # no loop runs in this thread: a worker thread
                on_loop.setdefault(name, False)
            return function(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(signing_module, "generate_server_key", watched("key", generate_server_key))
    monkeypatch.setattr(PACKAGER, "build", watched("pkcs12", PACKAGER.build))
    monkeypatch.setattr(IssuingCA, "issue", watched("sign", IssuingCA.issue))
    created = await services.ra.create_enrollment(
        HOLDER.model_copy(update={"profile": "client-keygen"}), actor="test"
    )
    await services.links.redeem_enrollment_link_pkcs12(
        created.link.token,
        reference_number=created.reference_number,
        authorization_code=created.authorization_code,
        server_key=ServerKey(password="correct horse"),
    )
    assert on_loop == {"key": False, "sign": False, "pkcs12": False}


async def test_server_key_is_made_below_the_event_loops_priority(
    runtime: Runtime, services: Services, tmp_path: Path
) -> None:
    """Issue 11 (the RSA load): a server-made key is made in a thread whose nice value is the
    loop's plus KEYGEN_NICENESS and packaged in a process below the server's priority, so the
    loop gets the core (and the GIL) first; a CSR's issuance does not go there. Before, both
    ran in asyncio's threads at the loop's priority."""
    keygen = HOLDER.model_copy(update={"profile": "client-keygen"})
    created = await services.ra.create_enrollment(keygen, actor="test")
    before = KEY_MAKERS.calls.copy()
    package = await services.links.redeem_enrollment_link_pkcs12(
        created.link.token,
        reference_number=created.reference_number,
        authorization_code=created.authorization_code,
        server_key=ServerKey(password="correct horse", key_type="rsa-2048"),
    )
    assert package.issued.serial
    used = KEY_MAKERS.calls - before
    assert sum(used.values()) == 1
    loop_nice = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    for thread in used:
        assert os.getpriority(os.PRIO_PROCESS, thread) == min(19, loop_nice + KEYGEN_NICENESS)
    # The PKCS#12 (mostly Python holding the GIL) is built in a process of its own, lower still.
    assert PACKAGER.pid is not None
    assert PACKAGER.pid != os.getpid()
    assert os.getpriority(os.PRIO_PROCESS, PACKAGER.pid) == min(19, loop_nice + PACKAGER_NICENESS)

    with_csr = await create(services)
    _, csr = make_csr(tmp_path)
    before = KEY_MAKERS.calls.copy()
    await redeem(services, with_csr, csr)
    assert KEY_MAKERS.calls == before
