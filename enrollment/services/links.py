"""Redeeming a one-time enrollment link: the page's view of it, and the certificate it gives."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import partial

from enrollment import codes, metrics
from enrollment.models import Delivery, Enrollment, LinkPurpose
from enrollment.services._lean import EnrollmentRow
from enrollment.services._store import Store
from enrollment.services.results import (
    IssuedCertificate,
    KeyMaterial,
    Pkcs12Package,
    ServerKey,
    csr_delivery,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkView:
    """What a page may show about a valid link (never the secrets behind it)."""

    purpose: LinkPurpose
    expires_at: datetime
    enrollment: Enrollment | None
    owner_slack_user: str | None
    certificate_id: int | None = None


class LinkRedemption:
    """The enrollment page and API behind ``/enroll/{token}``."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def inspect_link(self, token: str, *, purpose: LinkPurpose) -> LinkView:
        """Check a link without using it: unknown, expired and used links raise."""
        async with self._store.read() as session:
            link = await self._store.usable_link(session, token, purpose)
            enrollment = (
                await session.get(Enrollment, link.enrollment_id) if link.enrollment_id else None
            )
            return LinkView(
                purpose=LinkPurpose(link.purpose),
                expires_at=link.expires_at,
                enrollment=enrollment,
                owner_slack_user=link.owner_slack_user,
                certificate_id=link.certificate_id,
            )

    async def redeem_enrollment_link(
        self,
        token: str,
        *,
        reference_number: str,
        authorization_code: str,
        csr: str | bytes,
        delivery: str = "csr",
    ) -> IssuedCertificate:
        """Issue the enrollment's certificate for ``csr``; the link is used up on success only.

        Checks, in order: the link (unknown / expired / used), the lock, the reference number and
        authorization code (a wrong pair counts towards the lock), the CSR (self-signature and
        key). Nothing is written unless a certificate is issued or a wrong code is counted.
        ``delivery`` records where the key lives: ``browser``, ``csr`` or ``token``.
        """
        issued, _ = await self._redeem(
            token,
            reference_number=reference_number,
            authorization_code=authorization_code,
            key=csr,
            delivery=csr_delivery(delivery),
        )
        return issued

    async def redeem_enrollment_link_pkcs12(
        self,
        token: str,
        *,
        reference_number: str,
        authorization_code: str,
        server_key: ServerKey,
    ) -> Pkcs12Package:
        """Like :meth:`redeem_enrollment_link`, with a key made here (if the profile allows).

        The key is generated off the event loop and leaves only inside the encrypted PKCS#12;
        it is never written to disk or to the database.
        """
        return Pkcs12Package.of(
            await self._redeem(
                token,
                reference_number=reference_number,
                authorization_code=authorization_code,
                key=server_key,
                delivery=Delivery.SERVER,
            )
        )

    async def _redeem(
        self,
        token: str,
        *,
        reference_number: str,
        authorization_code: str,
        key: KeyMaterial,
        delivery: Delivery,
    ) -> tuple[IssuedCertificate, bytes | None]:
        store = self._store
        # The slow work (and the checks) before the unit; the unit's claims decide, so a
        # racing redemption that read the link as usable too finds it claimed there
        # (LinkUsed), and its signature is dropped.
        read = await store.signed_for_link(
            token,
            LinkPurpose.ENROLL,
            matches=partial(
                self._credentials_match, reference=reference_number, code=authorization_code
            ),
            key=key,
            delivery=delivery,
        )
        if read.issue is None:
            async with store.write() as session:
                failure = await store.count_failure(session, read.enrollment)
            metrics.ENROLLMENT_FAILURES.labels(code=failure.code).inc()
            raise failure
        await store.record_signed_link(read)
        signed = read.issue.signed
        metrics.CERTIFICATES_ISSUED.labels(profile=signed.profile.name, delivery=delivery).inc()
        return signed.issued, signed.package

    def _credentials_match(self, enrollment: EnrollmentRow, *, reference: str, code: str) -> bool:
        code_ok = self._store.pepper.code_matches(code, enrollment.authorization_code_hash)
        reference_ok = codes.normalize_reference(reference) == enrollment.reference_number
        return code_ok and reference_ok
