"""Revocation and the CRL: a revocation in one unit of work, then a CRL that lists it, signed
outside any unit."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from common.errors import CertdeskError
from common.time import utcnow
from enrollment import metrics
from enrollment.ca.crl import RevokedEntry, build_crl, parse_reason
from enrollment.errors import CertificateNotActive, CertificateNotFound
from enrollment.models import Certificate, CertificateStatus, RevocationList
from enrollment.services._store import Store, audit
from usbkey.certificates import serial_hex

log = logging.getLogger(__name__)

CRL_ATTEMPTS = 5


class Revocation:
    """Revoking certificates (RA staff, CMP's rejected certConf, a holder's CMP rr) and serving
    the CRL."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def revoke(self, serial: str, *, reason: str, actor: str) -> Certificate:
        """Revoke a certificate (audited), then sign a CRL that lists it.

        ``reason`` is an RFC 5280 reason name (``keyCompromise``, ``key-compromise`` …). The
        revocation is one unit of work whose claim (one conditional ``UPDATE``) lets exactly
        one of several racing revocations of a certificate succeed; the others hear that it
        is already revoked. The CRL is signed after that unit, outside any (an HSM signature
        must not hold the writer), and recorded in a unit of its own (:meth:`_fresh_crl`). If
        that fails (an HSM away, the database gone), the revocation stands and is logged; the
        next :meth:`current_crl` signs a CRL that lists it.
        """
        flag = parse_reason(reason)
        async with self._store.write() as session:
            cert = await self._claim_revocation(session, serial, flag.value, actor=actor)
        metrics.CERTIFICATES_REVOKED.labels(reason=flag.value).inc()
        try:
            await self._fresh_crl()
        except CertdeskError as exc:  # revoked all the same: OCSP says so, GET /crl re-signs
            log.warning(
                "certificate revoked, CRL not signed yet",
                extra={"serial": cert.serial, "error": exc.code},
            )
        return cert

    async def _claim_revocation(
        self, session: AsyncSession, serial: str, reason: str, *, actor: str
    ) -> Certificate:
        """Mark ``serial`` revoked in the caller's unit, only while it is in the state read
        (a lost race re-reads: already revoked raises, another change is retried once)."""
        for _ in range(2):
            cert = await self._store.certificate_by_serial(session, serial)
            if cert.status == CertificateStatus.REVOKED:
                assert cert.revoked_at is not None
                raise CertificateNotActive(
                    f"Certificate {cert.serial} was already revoked on "
                    f"{cert.revoked_at:%Y-%m-%d %H:%M} UTC ({cert.revocation_reason})."
                )
            previous_status = cert.status
            now = utcnow()
            claimed = await session.execute(
                update(Certificate)
                .where(col(Certificate.id) == cert.id, col(Certificate.status) == previous_status)
                .values(status=CertificateStatus.REVOKED, revoked_at=now, revocation_reason=reason)
                .returning(col(Certificate.id))
                .execution_options(synchronize_session=False)
            )
            if claimed.first() is None:
                session.expunge(cert)  # changed since read: read it again
                continue
            session.expunge(cert)  # a detached copy, given the values the UPDATE wrote
            cert.status, cert.revoked_at, cert.revocation_reason = (
                CertificateStatus.REVOKED,
                now,
                reason,
            )
            audit(
                session,
                actor=actor,
                action="certificate.revoke",
                target=cert.serial,
                detail={"reason": reason, "previous_status": previous_status},
            )
            return cert
        raise CertificateNotActive(
            f"Certificate {serial} changed while it was being revoked. Run the revocation again."
        )

    async def revoke_certificate(
        self, certificate: x509.Certificate, *, reason: str, actor: str
    ) -> Certificate:
        """Revoke exactly ``certificate`` (serial and fingerprint) for a holder who proved its
        key (CMP rr); :class:`CertificateNotFound` if this CA did not issue it."""
        if await self.issued_here(certificate) is None:
            raise CertificateNotFound(
                f"Certificate {serial_hex(certificate)} was not issued by this "
                "certdesk CA, so it cannot be revoked here. Check the server, or ask RA staff."
            )
        return await self.revoke(serial_hex(certificate), reason=reason, actor=actor)

    async def issued_here(self, certificate: x509.Certificate) -> Certificate | None:
        """The stored row of exactly ``certificate``, or None if it is not one of ours."""
        async with self._store.read() as session:
            return await self._store.stored_certificate(session, certificate)

    async def current_crl(self) -> bytes:
        """The current CRL (DER); signs a fresh one when the last is older than crl_refresh,
        or misses a revocation (one whose own CRL was not signed: a crash, an HSM away)."""
        return (await self._fresh_crl()).der

    async def _fresh_crl(self) -> RevocationList:
        """The latest CRL if it is fresh and lists every revoked certificate, else a new one:
        read, sign outside any unit (off the loop), then record it in a unit.

        Revocations only accumulate, so a CRL lists every revoked certificate exactly when its
        ``revoked_count`` is the current count. Two processes signing at once collide on the
        CRL number (unique): the loser reads again, and the winner's CRL will often do.
        """
        store = self._store
        latest: RevocationList | None = None
        for _ in range(CRL_ATTEMPTS):
            async with store.read() as session:
                latest = await self._latest_crl(session)
                revoked_count = await self._revoked_count(session)
                now = utcnow()
                fresh = latest is not None and now < latest.this_update + store.config.crl_refresh
                if latest is not None and fresh and latest.revoked_count == revoked_count:
                    return latest
                revoked = await self._revoked(session, now=now)
            record = await self._sign_crl(latest, revoked, now=now)
            try:
                async with store.write() as session:
                    session.add(record)
            except IntegrityError:
                continue  # another process signed this number first: look again
            return record
        # Still racing after CRL_ATTEMPTS rounds: every revocation is committed (OCSP answers
        # from the table at once) and the next GET /crl signs the CRL that lists them all.
        log.warning("CRL not re-signed: other processes kept signing at the same time")
        assert latest is not None
        return latest

    @staticmethod
    async def _latest_crl(session: AsyncSession) -> RevocationList | None:
        result = await session.execute(
            select(RevocationList).order_by(col(RevocationList.number).desc()).limit(1)
        )
        return result.scalars().first()

    @staticmethod
    async def _revoked_count(session: AsyncSession) -> int:
        query = sa.select(sa.func.count()).where(
            col(Certificate.status) == CertificateStatus.REVOKED
        )
        return int((await session.execute(query)).scalar_one())

    @staticmethod
    async def _revoked(session: AsyncSession, *, now: datetime) -> list[RevokedEntry]:
        rows = await session.execute(
            sa.select(
                col(Certificate.serial),
                col(Certificate.revoked_at),
                col(Certificate.revocation_reason),
            )
            .where(col(Certificate.status) == CertificateStatus.REVOKED)
            .order_by(col(Certificate.revoked_at), col(Certificate.id))
        )
        return [
            RevokedEntry(serial=serial, revoked_at=revoked_at or now, reason=reason)
            for serial, revoked_at, reason in rows
        ]

    async def _sign_crl(
        self, latest: RevocationList | None, revoked: list[RevokedEntry], *, now: datetime
    ) -> RevocationList:
        number = latest.number + 1 if latest is not None else 1
        this_update = now.replace(microsecond=0)
        next_update = this_update + self._store.config.crl_validity
        crl = await asyncio.to_thread(
            build_crl,
            ca=self._store.ca,
            number=number,
            revoked=revoked,
            this_update=this_update,
            next_update=next_update,
        )
        return RevocationList(
            number=number,
            this_update=this_update,
            next_update=next_update,
            revoked_count=len(revoked),
            der=crl.public_bytes(serialization.Encoding.DER),
        )
