"""Renewal through a one-time renewal link (``/renew/{token}``) and its verification code."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

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
        async with store.write() as session:
            cert = await store.certificate_by_serial(session, serial)
            if cert.status != CertificateStatus.ACTIVE:
                raise CertificateNotActive.not_renewable(
                    cert.serial, cert.status, "Ask RA staff for a new enrollment."
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
        async with store.read() as session:
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
        async with store.read() as session:
            link = await store.usable_link(session, token, LinkPurpose.RENEW)
            matches = self._verification_matches(link, verification_code)
            old = await self._renewable_certificate(session, link, serial) if matches else None
        if old is None:
            async with store.write() as session:
                failure = await self._count_failure(session, link)
            metrics.ENROLLMENT_FAILURES.labels(code=failure.code).inc()
            raise failure
        if delivery is None:
            old_delivery = Delivery(old.delivery)
            delivery = old_delivery if old_delivery in CSR_DELIVERIES else Delivery.CSR
        # Check, sign and package before the unit; the unit's claims decide (a loser's
        # signature is dropped): the link once, the old certificate superseded once.
        signed = await store.sign_successor(old, key=key, delivery=delivery)
        async with store.write() as session:
            await store.record_successor(session, signed, old=old, claim=link)
        metrics.CERTIFICATES_RENEWED.labels(delivery=delivery).inc()
        return signed.issued, signed.package

    def _verification_hash(self, code: str) -> str:
        return self._store.pepper.digest("verification-code", codes.normalize_code(code))

    def _verification_matches(self, link: OneTimeLink, code: str) -> bool:
        if link.verification_code_hash is None:
            return False
        return hmac.compare_digest(self._verification_hash(code), link.verification_code_hash)

    async def _count_failure(
        self, session: AsyncSession, link: OneTimeLink
    ) -> LinkLocked | VerificationFailed:
        counted = await session.execute(
            update(OneTimeLink)
            .where(col(OneTimeLink.id) == link.id)
            .values(failed_attempts=col(OneTimeLink.failed_attempts) + 1)
            .returning(col(OneTimeLink.failed_attempts))
            .execution_options(synchronize_session=False)
        )
        attempts = counted.scalar_one()
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
            raise CertificateNotActive.not_renewable(
                cert.serial, cert.status, "Choose another one, or ask the certdesk bot in Slack."
            )
        return cert
