"""Renewal, revocation, the CRL and server-generated keys, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from sqlmodel import col, select

from bot.runtime import Runtime
from enrollment.ca.authority import IssuingCA
from enrollment.ca.pkcs12 import build_pkcs12, generate_server_key
from enrollment.db import session_factory
from enrollment.errors import (
    CertificateNotActive,
    CertificateNotFound,
    LinkExpired,
    LinkLocked,
    LinkUsed,
    PasswordInvalid,
    PolicyError,
    RequestInvalid,
    RevocationReasonInvalid,
    VerificationFailed,
)
from enrollment.models import AuditEvent, Certificate, OneTimeLink, RevocationList
from enrollment.queries import EnrollmentQueries
from enrollment.services import EnrollmentCreate, Services
from enrollment.services.results import ServerKey
from tests.enrollment.conftest import HOLDER, Issued, enroll_and_issue
from tests.enrollment.test_service import snapshot
from tests.support.pki import make_csr
from tests.support.store import certificate_row, certificate_view, count_rows


def read_tree(root: Path) -> list[tuple[Path, bytes]]:
    return [(path, path.read_bytes()) for path in root.rglob("*") if path.is_file()]


async def audit_actions(runtime: Runtime) -> list[str]:
    async with session_factory(runtime.engine)() as session:
        events = (await session.execute(select(AuditEvent))).scalars().all()
        return [e.action for e in events]


async def renew(services: Services, issued: Issued, directory: Path, *, code: str | None = None):
    renewal = await services.renewal.create_renewal_link(issued.serial, actor="U0HOLDER")
    _, csr = make_csr(directory, key="rsa2048")
    return await services.renewal.redeem_renewal_link(
        renewal.link.token,
        serial=issued.serial,
        verification_code=code or renewal.verification_code,
        csr=csr,
    )


async def test_create_renewal_link_stores_only_hashes(
    runtime: Runtime, services: Services, issued: Issued
) -> None:
    renewal = await services.renewal.create_renewal_link(issued.serial, actor="test")
    assert renewal.link.url.startswith("http://certdesk.test/renew/")
    dumped = repr(await snapshot(runtime))
    assert renewal.link.token not in dumped
    assert renewal.verification_code.replace("-", "") not in dumped
    assert renewal.verification_code not in dumped


async def test_renew_keeps_subject_and_friendly_name_and_supersedes_old(
    runtime: Runtime, services: Services, issued: Issued, tmp_path: Path
) -> None:
    renewed = await renew(services, issued, tmp_path)
    assert renewed.certificate.subject == issued.issued.certificate.subject
    assert renewed.serial != issued.serial
    assert renewed.replaces == issued.serial
    assert renewed.friendly_name == issued.issued.friendly_name
    assert renewed.delivery == "browser"  # the way the old one was delivered
    old = await certificate_row(runtime.engine, issued.serial)
    assert old.status == "superseded"
    assert old.superseded_by == renewed.serial
    new = await certificate_row(runtime.engine, renewed.serial)
    assert new.status == "active"
    assert new.key_type == "RSA-2048"
    assert new.owner_slack_user == "U0HOLDER"
    assert "certificate.renew" in await audit_actions(runtime)


async def test_renewal_link_works_once(services: Services, issued: Issued, tmp_path: Path) -> None:
    renewal = await services.renewal.create_renewal_link(issued.serial, actor="test")
    _, csr = make_csr(tmp_path)
    args = {"serial": issued.serial, "verification_code": renewal.verification_code, "csr": csr}
    await services.renewal.redeem_renewal_link(renewal.link.token, **args)
    with pytest.raises(LinkUsed):
        await services.renewal.redeem_renewal_link(renewal.link.token, **args)


async def test_renew_superseded_certificate_is_refused(
    services: Services, issued: Issued, tmp_path: Path
) -> None:
    await renew(services, issued, tmp_path)
    with pytest.raises(CertificateNotActive):
        await services.renewal.create_renewal_link(issued.serial, actor="test")


async def test_concurrent_renewals_of_one_certificate_yield_one(
    runtime: Runtime, services: Services, issued: Issued, tmp_path: Path
) -> None:
    """Two links for one certificate, used at once: one renewal, one clear refusal."""
    links = [
        await services.renewal.create_renewal_link(issued.serial, actor="test") for _ in range(4)
    ]
    _, csr = make_csr(tmp_path)
    results = await asyncio.gather(
        *(
            services.renewal.redeem_renewal_link(
                r.link.token, serial=issued.serial, verification_code=r.verification_code, csr=csr
            )
            for r in links
        ),
        return_exceptions=True,
    )
    renewed = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, CertificateNotActive)]
    assert len(renewed) == 1, results
    assert len(refused) == 3, results
    assert await count_rows(runtime.engine, Certificate) == 2


async def test_wrong_verification_codes_lock_the_renewal_link(
    runtime: Runtime, services: Services, issued: Issued, tmp_path: Path
) -> None:
    renewal = await services.renewal.create_renewal_link(issued.serial, actor="test")
    _, csr = make_csr(tmp_path)
    limit = services.config.max_failed_attempts
    for attempt in range(1, limit):
        with pytest.raises(VerificationFailed) as info:
            await services.renewal.redeem_renewal_link(
                renewal.link.token, serial=issued.serial, verification_code="WRONG", csr=csr
            )
        assert info.value.attempts_left == limit - attempt
    with pytest.raises(LinkLocked):
        await services.renewal.redeem_renewal_link(
            renewal.link.token, serial=issued.serial, verification_code="WRONG", csr=csr
        )
    with pytest.raises(LinkLocked, match="new renewal link"):
        await services.renewal.redeem_renewal_link(
            renewal.link.token,
            serial=issued.serial,
            verification_code=renewal.verification_code,
            csr=csr,
        )
    with pytest.raises(LinkLocked):
        await services.renewal.renewal_view(renewal.link.token)
    assert "link.lock" in await audit_actions(runtime)


async def test_renew_refuses_another_owners_certificate(
    services: Services, issued: Issued, tmp_path: Path
) -> None:
    other = await enroll_and_issue(
        services, tmp_path, request=HOLDER.model_copy(update={"slack_user": "U0OTHER"})
    )
    renewal = await services.renewal.create_renewal_link(issued.serial, actor="test")
    _, csr = make_csr(tmp_path)
    with pytest.raises(CertificateNotFound, match="not one this link may renew"):
        await services.renewal.redeem_renewal_link(
            renewal.link.token,
            serial=other.serial,
            verification_code=renewal.verification_code,
            csr=csr,
        )
    view = await services.renewal.renewal_view(renewal.link.token)
    assert [c.serial for c in view.certificates] == [issued.serial]


async def test_renewal_view_lists_the_owners_certificates_newest_first(
    runtime: Runtime, services: Services, issued: Issued, tmp_path: Path
) -> None:
    second = await enroll_and_issue(services, tmp_path)
    renewal = await services.renewal.create_renewal_link(issued.serial, actor="test")
    view = await services.renewal.renewal_view(renewal.link.token)
    assert [c.serial for c in view.certificates] == [second.serial, issued.serial]
    assert view.preselected == issued.serial
    queries = EnrollmentQueries(engine=runtime.engine)  # the bot's "My certificates"
    listed = await queries.certificates_of("U0HOLDER")
    assert [c.serial for c in listed] == [second.serial, issued.serial]
    assert await queries.certificates_of("U0NOBODY") == []


async def test_revoke_lists_serial_in_signed_crl(
    runtime: Runtime, services: Services, issued: Issued
) -> None:
    first = x509.load_der_x509_crl(await services.revocation.current_crl())
    revoked = await services.revocation.revoke(
        "serial=" + issued.serial.upper(), reason="key-compromise", actor="cli:ra"
    )
    assert revoked.status == "revoked"
    assert revoked.revocation_reason == "keyCompromise"
    assert revoked.revoked_at is not None
    crl = x509.load_der_x509_crl(await services.revocation.current_crl())
    assert crl.is_signature_valid(services.ca.certificate.public_key())
    entry = crl.get_revoked_certificate_by_serial_number(int(issued.serial, 16))
    assert entry is not None
    reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
    assert reason == x509.ReasonFlags.key_compromise
    number = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    first_number = first.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    assert number > first_number
    assert crl.next_update_utc is not None
    assert crl.next_update_utc - crl.last_update_utc == services.config.crl_validity
    assert "certificate.revoke" in await audit_actions(runtime)


async def test_revoke_refuses_twice_unknown_serial_and_bad_reason(
    services: Services, issued: Issued
) -> None:
    with pytest.raises(RevocationReasonInvalid, match="keyCompromise"):
        await services.revocation.revoke(issued.serial, reason="bored", actor="test")
    with pytest.raises(CertificateNotFound):
        await services.revocation.revoke("abcdef", reason="superseded", actor="test")
    await services.revocation.revoke(issued.serial, reason="superseded", actor="test")
    with pytest.raises(CertificateNotActive, match="already revoked"):
        await services.revocation.revoke(issued.serial, reason="superseded", actor="test")


async def test_revoked_certificate_cannot_be_renewed(
    services: Services, issued: Issued, tmp_path: Path
) -> None:
    renewal = await services.renewal.create_renewal_link(issued.serial, actor="test")
    await services.revocation.revoke(issued.serial, reason="affiliationChanged", actor="test")
    _, csr = make_csr(tmp_path)
    with pytest.raises(CertificateNotActive):
        await services.renewal.redeem_renewal_link(
            renewal.link.token,
            serial=issued.serial,
            verification_code=renewal.verification_code,
            csr=csr,
        )


async def test_crl_is_reused_until_refresh_then_signed_again(
    runtime: Runtime,
    services: Services,
) -> None:
    first = await services.revocation.current_crl()
    assert await services.revocation.current_crl() == first
    async with session_factory(runtime.engine)() as session, session.begin():
        for row in (await session.execute(select(RevocationList))).scalars():
            row.this_update -= services.config.crl_refresh
            session.add(row)
    fresh = x509.load_der_x509_crl(await services.revocation.current_crl())
    assert fresh.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 2


async def test_concurrent_revocations_all_reach_the_crl(services: Services, tmp_path: Path) -> None:
    certs = [await enroll_and_issue(services, tmp_path) for _ in range(3)]
    await asyncio.gather(
        *(services.revocation.revoke(c.serial, reason="superseded", actor="test") for c in certs)
    )
    crl = x509.load_der_x509_crl(await services.revocation.current_crl())
    assert {format(r.serial_number, "x") for r in crl} == {c.serial for c in certs}


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


async def test_renew_server_key_certificate_with_server_key(
    runtime: Runtime,
    services: Services,
) -> None:
    created = await services.ra.create_enrollment(
        HOLDER.model_copy(update={"profile": "client-keygen"}), actor="test"
    )
    first = await services.links.redeem_enrollment_link_pkcs12(
        created.link.token,
        reference_number=created.reference_number,
        authorization_code=created.authorization_code,
        server_key=ServerKey(password="correct horse"),
    )
    renewal = await services.renewal.create_renewal_link(first.issued.serial, actor="test")
    second = await services.renewal.redeem_renewal_link_pkcs12(
        renewal.link.token,
        serial=first.issued.serial,
        verification_code=renewal.verification_code,
        server_key=ServerKey(password="battery staple", key_type="rsa-2048"),
    )
    _, cert, _ = pkcs12.load_key_and_certificates(second.data, b"battery staple")
    assert cert is not None
    assert cert.subject == first.issued.certificate.subject
    assert second.issued.friendly_name == first.issued.friendly_name
    assert (await certificate_view(runtime.engine, first.issued.serial)).status == "superseded"


async def test_expired_renewal_link_is_refused(
    runtime: Runtime, services: Services, issued: Issued
) -> None:
    renewal = await services.renewal.create_renewal_link(issued.serial, actor="test")
    async with session_factory(runtime.engine)() as session, session.begin():
        query = select(OneTimeLink).where(col(OneTimeLink.certificate_id).is_not(None))
        for link in (await session.execute(query)).scalars():
            link.expires_at -= timedelta(days=30)
            session.add(link)
    with pytest.raises(LinkExpired):
        await services.renewal.renewal_view(renewal.link.token)


def test_enrollment_create_default_profile_has_no_server_keygen() -> None:
    assert EnrollmentCreate(cn="x").profile == "client"


async def test_server_key_work_runs_off_the_event_loop(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Key generation, signing and PKCS#12 encryption never stall the loop (made slow here)."""
    import time

    import enrollment.services._store as store_module

    def slow(function: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            time.sleep(0.3)  # blocking on purpose: fatal if this ran on the loop
            return function(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(store_module, "generate_server_key", slow(generate_server_key))
    monkeypatch.setattr(store_module, "build_pkcs12", slow(build_pkcs12))
    monkeypatch.setattr(IssuingCA, "issue", slow(IssuingCA.issue))
    created = await services.ra.create_enrollment(
        HOLDER.model_copy(update={"profile": "client-keygen"}), actor="test"
    )
    gaps: list[float] = []
    done = asyncio.Event()

    async def heartbeat() -> None:
        last = time.monotonic()
        while not done.is_set():
            await asyncio.sleep(0.01)
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    beat = asyncio.create_task(heartbeat())
    started = time.monotonic()
    await services.links.redeem_enrollment_link_pkcs12(
        created.link.token,
        reference_number=created.reference_number,
        authorization_code=created.authorization_code,
        server_key=ServerKey(password="correct horse"),
    )
    elapsed = time.monotonic() - started
    done.set()
    await beat
    assert elapsed >= 0.9  # the three slow steps really ran
    assert max(gaps) < 0.25, max(gaps)
