"""Renewal through a one-time renewal link (``/renew/{token}``) and its verification code."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from enrollment import codes, metrics
from enrollment.errors import (
    CertificateNotActive,
    CertificateNotFound,
    LinkLocked,
    VerificationFailed,
)
from enrollment.models import Certificate, CertificateStatus, Delivery, LinkPurpose, OneTimeLink
from enrollment.services._store import Store, audit
from enrollment.services.results import (
    CSR_DELIVERIES,
    IssuedCertificate,
    KeyMaterial,
    NewLink,
    Pkcs12Package,
    ServerKey,
    csr_delivery,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class RenewalLink:
    """A one-time renewal link and the verification code to send with it (shown once)."""

    link: NewLink
    verification_code: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RenewalView:
    """What the renewal page shows: the link owner's certificates, newest first."""

    expires_at: datetime
    owner_slack_user: str | None
    certificates: tuple[Certificate, ...]
    preselected: str | None

    @property
    def renewable(self) -> tuple[Certificate, ...]:
        return tuple(c for c in self.certificates if c.status == CertificateStatus.ACTIVE)


class LinkRenewal:
    """Renewal links: made for the bot's "Renew", redeemed on the renewal page and API."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def create_renewal_link(self, serial: str, *, actor: str) -> RenewalLink:
        """A one-time renewal link for an active certificate, owned by the certificate's owner.

        The verification code is returned once (send it with the link); only its keyed hash
        is stored. The link's page lists all of the owner's active certificates.
        """
        store = self._store
        code = codes.new_authorization_code()
        async with store.sessions() as session, session.begin():
            cert = await store.certificate_by_serial(session, serial)
            if cert.status != CertificateStatus.ACTIVE:
                raise CertificateNotActive(
                    f"Certificate {cert.serial} is {cert.status}; only active certificates can be "
                    "renewed. Ask RA staff for a new enrollment."
                )
            link = store.add_link(
                session,
                purpose=LinkPurpose.RENEW,
                certificate_id=cert.id,
                owner=cert.owner_slack_user,
                verification_code_hash=self._verification_hash(code),
            )
            audit(session, actor=actor, action="link.create_renewal", target=cert.serial)
        return RenewalLink(link=link, verification_code=code)

    async def renewal_view(self, token: str) -> RenewalView:
        """The certificates a renewal link may renew (unknown / used / expired links raise)."""
        store = self._store
        async with store.sessions() as session:
            link = await store.usable_link(session, token, LinkPurpose.RENEW)
            linked = (
                await session.get(Certificate, link.certificate_id) if link.certificate_id else None
            )
            if link.owner_slack_user is not None:
                certificates = await store.certificates_of(session, link.owner_slack_user)
            else:
                certificates = [linked] if linked is not None else []
            return RenewalView(
                expires_at=link.expires_at,
                owner_slack_user=link.owner_slack_user,
                certificates=tuple(certificates),
                preselected=linked.serial if linked is not None else None,
            )

    async def redeem_renewal_link(
        self,
        token: str,
        *,
        serial: str,
        verification_code: str,
        csr: str | bytes,
        delivery: str | None = None,
    ) -> IssuedCertificate:
        """Renew the certificate ``serial`` for a new CSR: same subject, profile, friendly name.

        The old certificate is marked superseded in the same transaction that uses the link.
        A wrong verification code counts; after the limit the link stops working.
        ``delivery`` defaults to how the old certificate was delivered.
        """
        issued, _ = await self._redeem(
            token,
            serial=serial,
            verification_code=verification_code,
            key=csr,
            delivery=csr_delivery(delivery) if delivery is not None else None,
        )
        return issued

    async def redeem_renewal_link_pkcs12(
        self, token: str, *, serial: str, verification_code: str, server_key: ServerKey
    ) -> Pkcs12Package:
        """Renew with a server-generated key (if the profile allows), returned once as PKCS#12."""
        return Pkcs12Package.of(
            await self._redeem(
                token,
                serial=serial,
                verification_code=verification_code,
                key=server_key,
                delivery=Delivery.SERVER,
            )
        )

    async def _redeem(
        self,
        token: str,
        *,
        serial: str,
        verification_code: str,
        key: KeyMaterial,
        delivery: Delivery | None,
    ) -> tuple[IssuedCertificate, bytes | None]:
        store = self._store
        failure: LinkLocked | VerificationFailed | None = None
        async with store.sessions() as session, session.begin():
            link = await store.usable_link(session, token, LinkPurpose.RENEW, lock=True)
            if not self._verification_matches(link, verification_code):
                failure = await self._count_failure(session, link)  # committed
            else:
                old = await self._renewable_certificate(session, link, serial)
                if delivery is None:
                    old_delivery = Delivery(old.delivery)
                    delivery = old_delivery if old_delivery in CSR_DELIVERIES else Delivery.CSR
                issued, package = await store.issue_successor(
                    session,
                    old=old,
                    key=key,
                    delivery=delivery,
                    claim=link,
                )
        if failure is not None:
            metrics.ENROLLMENT_FAILURES.labels(code=failure.code).inc()
            raise failure
        metrics.CERTIFICATES_RENEWED.labels(delivery=delivery).inc()
        return issued, package

    def _verification_hash(self, code: str) -> str:
        return self._store.pepper.digest("verification-code", codes.normalize_code(code))

    def _verification_matches(self, link: OneTimeLink, code: str) -> bool:
        if link.verification_code_hash is None:
            return False
        return hmac.compare_digest(self._verification_hash(code), link.verification_code_hash)

    async def _count_failure(
        self, session: AsyncSession, link: OneTimeLink
    ) -> LinkLocked | VerificationFailed:
        await session.execute(
            update(OneTimeLink)
            .where(col(OneTimeLink.id) == link.id)
            .values(failed_attempts=OneTimeLink.failed_attempts + 1)
        )
        attempts = (
            await session.execute(
                select(OneTimeLink.failed_attempts).where(col(OneTimeLink.id) == link.id)
            )
        ).scalar_one()
        limit = self._store.config.max_failed_attempts
        audit(
            session,
            actor="anonymous",
            action="link.wrong_verification_code",
            target=f"link:{link.id}",
            outcome="refused",
        )
        if attempts >= limit:
            audit(
                session,
                actor="system",
                action="link.lock",
                target=f"link:{link.id}",
                detail={"failed_attempts": attempts},
            )
            return LinkLocked()
        return VerificationFailed(attempts_left=limit - attempts)

    async def _renewable_certificate(
        self, session: AsyncSession, link: OneTimeLink, serial: str
    ) -> Certificate:
        cert = await self._store.certificate_by_serial(session, serial)
        covered = cert.id == link.certificate_id or (
            link.owner_slack_user is not None and cert.owner_slack_user == link.owner_slack_user
        )
        if not covered:
            raise CertificateNotFound(
                f"Certificate {serial!r} is not one this link may renew. Choose one of the "
                "certificates listed on the page."
            )
        if cert.status != CertificateStatus.ACTIVE:
            raise CertificateNotActive(
                f"Certificate {cert.serial} is {cert.status}; only active certificates can be "
                "renewed. Choose another one, or ask the certdesk bot in Slack."
            )
        return cert
