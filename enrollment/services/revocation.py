"""Revocation and the CRL: a revoked certificate and a freshly signed CRL in one transaction."""

from __future__ import annotations

import asyncio
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from common.time import utcnow
from enrollment import metrics
from enrollment.ca.crl import RevokedEntry, build_crl, parse_reason
from enrollment.errors import CertificateNotActive, CertificateNotFound
from enrollment.models import Certificate, CertificateStatus, RevocationList
from enrollment.services._store import Store, audit
from usbkey.certificates import serial_hex


class Revocation:
    """Revoking certificates (RA staff, CMP's rejected certConf, a holder's CMP rr) and serving
    the CRL."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def revoke(self, serial: str, *, reason: str, actor: str) -> Certificate:
        """Revoke a certificate (audited) and sign a new CRL in the same transaction.

        ``reason`` is an RFC 5280 reason name (``keyCompromise``, ``key-compromise`` …).
        """
        store = self._store
        flag = parse_reason(reason)
        for attempt in range(3):
            try:
                async with store.sessions() as session, session.begin():
                    cert = await store.certificate_by_serial(session, serial)
                    if cert.status == CertificateStatus.REVOKED:
                        assert cert.revoked_at is not None
                        raise CertificateNotActive(
                            f"Certificate {cert.serial} was already revoked on "
                            f"{cert.revoked_at:%Y-%m-%d %H:%M} UTC ({cert.revocation_reason})."
                        )
                    now = utcnow()
                    previous_status = cert.status
                    cert.status = CertificateStatus.REVOKED
                    cert.revoked_at = now
                    cert.revocation_reason = flag.value
                    session.add(cert)
                    audit(
                        session,
                        actor=actor,
                        action="certificate.revoke",
                        target=cert.serial,
                        detail={"reason": flag.value, "previous_status": previous_status},
                    )
                    await session.flush()
                    await self._sign_crl(session, now=now)
            except IntegrityError:
                # Another process signed a CRL with the same number: start over and include it.
                if attempt == 2:
                    raise
                continue
            metrics.CERTIFICATES_REVOKED.labels(reason=flag.value).inc()
            return cert
        raise AssertionError("unreachable")

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
        async with self._store.sessions() as session:
            return await self._store.stored_certificate(session, certificate)

    async def current_crl(self) -> bytes:
        """The current CRL (DER); signs a fresh one when the last is older than crl_refresh."""
        store = self._store
        for attempt in range(3):
            try:
                async with store.sessions() as session, session.begin():
                    latest = await self._latest_crl(session)
                    now = utcnow()
                    if latest is not None and now < latest.this_update + store.config.crl_refresh:
                        return latest.der
                    return (await self._sign_crl(session, now=now)).der
            except IntegrityError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    @staticmethod
    async def _latest_crl(session: AsyncSession) -> RevocationList | None:
        result = await session.execute(
            select(RevocationList).order_by(col(RevocationList.number).desc()).limit(1)
        )
        return result.scalars().first()

    async def _sign_crl(self, session: AsyncSession, *, now: datetime) -> RevocationList:
        latest = await self._latest_crl(session)
        rows = await session.execute(
            select(Certificate)
            .where(col(Certificate.status) == CertificateStatus.REVOKED)
            .order_by(col(Certificate.revoked_at), col(Certificate.id))
        )
        revoked = [
            RevokedEntry(
                serial=c.serial, revoked_at=c.revoked_at or now, reason=c.revocation_reason
            )
            for c in rows.scalars()
        ]
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
        record = RevocationList(
            number=number,
            this_update=this_update,
            next_update=next_update,
            revoked_count=len(revoked),
            der=crl.public_bytes(serialization.Encoding.DER),
        )
        session.add(record)
        await session.flush()
        return record
