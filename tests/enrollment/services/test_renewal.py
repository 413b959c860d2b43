"""Renewal through a one-time renewal link and its verification code."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import pkcs12
from sqlmodel import col, select

from bot.runtime import Runtime
from enrollment.db import session_factory
from enrollment.errors import (
    CertificateNotActive,
    CertificateNotFound,
    LinkExpired,
    LinkLocked,
    LinkUsed,
    VerificationFailed,
)
from enrollment.models import AuditEvent, Certificate, OneTimeLink
from enrollment.queries import EnrollmentQueries
from enrollment.services import Services
from enrollment.services.results import ServerKey
from tests.enrollment.conftest import HOLDER, Issued, enroll_and_issue
from tests.support.pki import make_csr
from tests.support.store import certificate_row, certificate_view, count_rows, snapshot


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
    said = "is superseded; only active certificates can be renewed. Ask RA staff for a new"
    with pytest.raises(CertificateNotActive, match=said):
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


async def test_revoked_certificate_cannot_be_renewed(
    services: Services, issued: Issued, tmp_path: Path
) -> None:
    renewal = await services.renewal.create_renewal_link(issued.serial, actor="test")
    await services.revocation.revoke(issued.serial, reason="affiliationChanged", actor="test")
    _, csr = make_csr(tmp_path)
    said = "is revoked; only active certificates can be renewed. Choose another one"
    with pytest.raises(CertificateNotActive, match=said):
        await services.renewal.redeem_renewal_link(
            renewal.link.token,
            serial=issued.serial,
            verification_code=renewal.verification_code,
            csr=csr,
        )


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
