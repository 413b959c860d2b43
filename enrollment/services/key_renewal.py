"""Renewal by proof of the current key: `certdesk token renew` (a signed challenge) and CMP's
key update (kur, signed with the current certificate's key); and the successor a kur made."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPublicKeyTypes,
    CertificatePublicKeyTypes,
)
from sqlalchemy.ext.asyncio import AsyncSession

from common.time import utcnow
from enrollment import metrics
from enrollment.ca.csr import parse_csr, validated_public_key
from enrollment.errors import (
    CertificateNotActive,
    CertificateNotFound,
    KeyNotAllowed,
    PolicyError,
)
from enrollment.models import Certificate, CertificateStatus, Delivery
from enrollment.possession import (
    TooManyChallenges,
    challenge_expiry,
    check_challenge,
    load_certificate,
    new_challenge,
    verify_renewal,
)
from enrollment.ratelimit import WindowLimiter
from enrollment.services._store import Store
from enrollment.services.results import IssuedCertificate, KeyMaterial
from usbkey.possession import renewal_message

CHALLENGES_PER_CLIENT = 20
CHALLENGE_WINDOW = timedelta(minutes=5)


@dataclass(frozen=True, slots=True, kw_only=True)
class RenewalChallenge:
    """A one-time challenge for renewal by possession, bound to one certificate."""

    challenge: str
    expires_at: datetime


def _spki(key: CertificateIssuerPublicKeyTypes | CertificatePublicKeyTypes) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


class KeyRenewal:
    """Renewal for holders who prove possession of the current certificate's key."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._challenges_by_client = WindowLimiter(
            limit=CHALLENGES_PER_CLIENT, window=CHALLENGE_WINDOW
        )

    async def create_renewal_challenge(
        self, certificate: str | bytes, *, client: str | None = None
    ) -> RenewalChallenge:
        """A challenge for renewing ``certificate`` without a link (see ``possession.py``).

        Only an active, unexpired certificate of this CA delivered to a USB key gets one. The
        challenge is stateless (a keyed MAC over the certificate's fingerprint and the time,
        :func:`enrollment.possession.new_challenge`): asking for one stores nothing, so anyone
        holding only the public certificate can ask for as many as they like without using up
        the holder's. It works for 5 minutes and renews once (the renewal supersedes the
        certificate). ``client`` (the source address) may ask for at most
        :data:`CHALLENGES_PER_CLIENT` per :data:`CHALLENGE_WINDOW` (in memory, per process).
        """
        if client is not None:
            retry_after = self._challenges_by_client.retry_after(client)
            if retry_after is not None:
                raise TooManyChallenges(retry_after)
            self._challenges_by_client.hit(client)
        presented = load_certificate(certificate)
        async with self._store.read() as session:
            await self._possession_renewable(session, presented)
        challenge = new_challenge(self._store.pepper, presented, now=utcnow())
        return RenewalChallenge(challenge=challenge, expires_at=challenge_expiry(challenge))

    async def renew_by_possession(
        self, *, certificate: str | bytes, csr: str | bytes, challenge: str, signature: str
    ) -> IssuedCertificate:
        """Renew ``certificate`` for ``csr``, proven by a signature of the certificate's key.

        ``signature`` is the current key's over :func:`usbkey.possession.renewal_message`
        (challenge, certificate, CSR). The challenge is checked first, without the database
        (ours, for this certificate, fresh). Then the certificate must still be renewable, the
        signature valid, the CSR valid with a NEW key; the successor is signed (same subject,
        profile, friendly name, delivered to the token) before one unit of work records it and
        supersedes the old certificate, only while that is still active: that is what makes
        the challenge work once (a replay, or a racing renewal, finds it superseded).
        """
        store = self._store
        presented = load_certificate(certificate)
        check_challenge(store.pepper, challenge, presented, now=utcnow())
        csr_der = parse_csr(csr).public_bytes(serialization.Encoding.DER)
        async with store.read() as session:
            old = await self._possession_renewable(session, presented)
        message = renewal_message(challenge=challenge, certificate=presented, csr_der=csr_der)
        verify_renewal(presented.public_key(), signature, message)
        new_key = await asyncio.to_thread(validated_public_key, csr_der)
        if _spki(new_key) == _spki(presented.public_key()):
            raise KeyNotAllowed(
                "The CSR uses the current certificate's key. A renewal needs a new key "
                "pair; `certdesk token renew` makes one on the USB key."
            )
        signed = await store.sign_successor(old, key=csr_der, delivery=Delivery.TOKEN)
        async with store.write() as session:  # a replay finds the certificate superseded
            await store.record_successor(
                session,
                signed,
                old=old,
                claim=None,
                unowned_actor="possession",
                detail={"proof": "possession"},
            )
        metrics.CERTIFICATES_RENEWED.labels(delivery=Delivery.TOKEN).inc()
        return signed.issued

    async def renew_by_certificate(
        self, certificate: x509.Certificate, *, key: KeyMaterial, delivery: Delivery = Delivery.CMP
    ) -> IssuedCertificate:
        """Renew ``certificate`` for a holder who proved possession of its key (CMP kur's
        signature, checked by the caller): same subject, profile and owner, the old one
        superseded. It must be exactly a certificate this CA issued, active and unexpired
        (:meth:`_renewable_by_key`); unlike `certdesk token renew`, any delivery."""
        store = self._store
        async with store.read() as session:
            old = await self._renewable_by_key(session, certificate)
        signed = await store.sign_successor(old, key=key, delivery=delivery)
        async with store.write() as session:
            await store.record_successor(session, signed, old=old, claim=None)
        metrics.CERTIFICATES_RENEWED.labels(delivery=delivery).inc()
        return signed.issued

    async def successor_of(self, certificate: x509.Certificate) -> Certificate | None:
        """The certificate that superseded ``certificate`` (exactly one of ours), if any."""
        store = self._store
        async with store.read() as session:
            old = await store.stored_certificate(session, certificate)
            if old is None or old.superseded_by is None:
                return None
            return await store.certificate_by_serial(session, old.superseded_by)

    async def _possession_renewable(
        self, session: AsyncSession, presented: x509.Certificate
    ) -> Certificate:
        """The stored row of ``presented`` if `certdesk token renew` may renew it, else raise:
        what :meth:`_renewable_by_key` checks, and delivered to a USB key."""
        row = await self._renewable_by_key(session, presented)
        if row.delivery != Delivery.TOKEN:
            raise PolicyError(
                f"Certificate {row.serial} is not on a USB key, so it is renewed with a renewal "
                'link, not by `certdesk token renew`. Ask the certdesk bot in Slack ("Renew").'
            )
        return row

    async def _renewable_by_key(
        self, session: AsyncSession, presented: x509.Certificate
    ) -> Certificate:
        """The stored row of ``presented`` if a holder who proves its key may renew it: exactly
        a certificate this CA issued (serial and fingerprint), active and unexpired, and (if
        configured) within the possession renewal window; `certdesk token renew` and CMP kur
        alike. Read before signing: the unit that records the successor re-checks that it is
        still active."""
        row = await self._store.stored_certificate(session, presented)
        if row is None:
            raise CertificateNotFound(
                f"Certificate {format(presented.serial_number, 'x')} was not issued by this "
                "certdesk CA, so it cannot be renewed here. Check the server, or ask RA staff."
            )
        if row.status != CertificateStatus.ACTIVE:
            successor = row.superseded_by
            if row.status == CertificateStatus.REVOKED:
                state = "revoked"
                advice = "A revoked certificate cannot be renewed: ask RA staff for a new one."
            elif successor:
                state = f"{row.status} by {successor}"
                advice = (
                    f"Certificate {successor} replaced it: renew that one (`certdesk-usbkey list` "
                    "shows which certificate your USB key holds)."
                )
            else:
                state = str(row.status)
                advice = (
                    "Ask the certdesk bot in Slack, or RA staff, for your current certificates."
                )
            raise CertificateNotActive.not_renewable(row.serial, state, advice)
        if row.not_after <= utcnow():
            raise CertificateNotActive(
                f"Certificate {row.serial} expired on {row.not_after:%Y-%m-%d %H:%M} UTC; an "
                'expired certificate cannot be renewed by its key. Ask the certdesk bot ("Renew") '
                "or RA staff."
            )
        window = self._store.config.possession_renewal_window
        if window is not None and row.not_after - window > utcnow():
            raise PolicyError(
                f"Certificate {row.serial} can be renewed from "
                f"{row.not_after - window:%Y-%m-%d} on ({window.days} days before it expires)."
            )
        return row
