"""What the use cases share: the store and CA they work on, and the steps several of them take
(links, claims, failure counting, lookups, audit rows, issuing a first certificate or a
successor). Internal to :mod:`enrollment.services`."""

from __future__ import annotations

import asyncio
import hmac
import sqlite3
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import timedelta
from functools import partial
from typing import Any, Unpack

from cryptography import x509
from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlmodel import col, select

from common.errors import CertdeskError
from common.time import utcnow
from enrollment import codes, metrics
from enrollment.ca.authority import IssuingCA
from enrollment.ca.crl import normalize_serial
from enrollment.ca.profiles import Profile, get_profile
from enrollment.errors import (
    CertificateNotActive,
    CertificateNotFound,
    EnrollmentLocked,
    EnrollmentNotFound,
    EnrollmentNotPending,
    LinkExpired,
    LinkLocked,
    LinkUnknown,
    LinkUsed,
    PolicyError,
    RenewalLinkExpired,
    RenewalLinkUnknown,
    WrongCredentials,
)
from enrollment.models import (
    AuditEvent,
    Certificate,
    CertificateStatus,
    Delivery,
    Enrollment,
    EnrollmentStatus,
    LinkPurpose,
    OneTimeLink,
)
from enrollment.pg import lean_postgres
from enrollment.reads import read_connection, read_session
from enrollment.services import _lean_pg
from enrollment.services._lean import (
    ClaimLost,
    EnrollmentRow,
    FirstIssue,
    LinkRow,
    core_first_issue,
    core_link_and_enrollment,
    sqlite_first_issue,
    sqlite_link_and_enrollment,
)
from enrollment.services._signing import (
    KEY_MAKERS,
    FirstIssueSigned,
    Holder,
    LinkSigned,
    Signed,
    fingerprint,
    sign_now,
)
from enrollment.services.config import EnrollmentConfig
from enrollment.services.creation import draw_link
from enrollment.services.results import (
    AuditFacts,
    KeyMaterial,
    NewLink,
    ServerKey,
)
from enrollment.writer import GroupCommit, PooledWrites, writes_for
from usbkey.certificates import serial_hex


def audit(session: AsyncSession, *, actor: str, action: str, **facts: Unpack[AuditFacts]) -> None:
    """Add one audit row to ``session`` (written with the change it records)."""
    session.add(AuditEvent(actor=actor, action=action, **facts))


def not_pending(enrollment: Enrollment | EnrollmentRow) -> EnrollmentNotPending:
    return EnrollmentNotPending(
        f"Enrollment {enrollment.reference_number} has already been used to issue a "
        "certificate. To get another one, ask the certdesk bot to renew it or ask RA staff."
    )


class Store:
    """The database, CA, secret key and configuration every use case works with."""

    def __init__(
        self, *, engine: AsyncEngine, ca: IssuingCA, pepper: codes.Pepper, config: EnrollmentConfig
    ) -> None:
        self.engine = engine
        self.writes = writes_for(engine)
        self.lean_pg = lean_postgres(engine)  # PostgreSQL's plain asyncpg pool, or None
        if self.lean_pg is not None:
            self.lean_pg.warm_with(*_lean_pg.WARM)
        self.ca = ca
        self.pepper = pepper
        self.config = config

    # -- units of work (enrollment/writer.py) --------------------------------------------

    def write(self) -> AbstractAsyncContextManager[AsyncSession]:
        """One unit of work: ``async with store.write() as session:``; raising undoes it alone,
        leaving the block means committed. Sign, generate and package before it, not in it."""
        return self.writes.unit()

    def read(self) -> AbstractAsyncContextManager[AsyncSession]:
        """A session that only reads (on SQLite a WAL reader: no write lock, no queueing)."""
        return read_session(self.engine)

    # -- one-time links ------------------------------------------------------------------

    async def usable_link(
        self, session: AsyncSession, token: str, purpose: LinkPurpose, *, lock: bool = False
    ) -> OneTimeLink:
        """The link behind ``token``, or the error saying why it cannot be used.

        ``lock`` takes the row lock (PostgreSQL ``FOR UPDATE``; SQLite's transactions are
        already serialized), so racing redemptions queue here and later ones see the link used.
        """
        if not token or len(token) > 128:
            raise unknown_link(purpose)
        query = select(OneTimeLink).where(
            col(OneTimeLink.token_hash) == self.pepper.hash_token(token)
        )
        result = await session.execute(query.with_for_update() if lock else query)
        return self._usable(result.scalars().first(), purpose)

    async def signed_for_link(
        self,
        token: str,
        purpose: LinkPurpose,
        *,
        matches: Callable[[EnrollmentRow], bool],
        key: KeyMaterial,
        delivery: Delivery,
    ) -> LinkSigned:
        """The usable link behind ``token`` and its enrollment read (no lock: the claims in
        the unit that records re-check what matters), checked, and its first certificate
        signed, nothing stored: the link usable, the enrollment not locked and pending, then
        ``matches(enrollment)`` (the codes; if False nothing is signed), then the key.

        On the embedded SQLite, for a CSR, it is one hop to a WAL reader's thread: the read,
        the checks, the signature and the plain unit's values. A server-made key is made in one
        of the key makers instead (slow: it must not hold up the readers; they run below the
        event loop's priority); on PostgreSQL the read is one statement on the lean pool
        (``services/_lean_pg.py``), elsewhere one Core statement, and the rest one worker-thread
        hop."""
        if not token or len(token) > 128:
            raise unknown_link(purpose)
        writes = self.writes
        lean = writes if isinstance(writes, GroupCommit) and writes.lean else None
        check = partial(
            self._check_and_sign, purpose=purpose, matches=matches, key=key, delivery=delivery
        )
        if lean is not None and not isinstance(key, ServerKey):
            return await lean.read(partial(self._read_check_and_sign, token, check))
        token_hash = self.pepper.hash_token(token)
        if lean is not None:
            found = await lean.read(sqlite_link_and_enrollment(token_hash))
        elif self.lean_pg is not None:
            found = await _lean_pg.link_and_enrollment(self.lean_pg, token_hash)
        else:
            async with read_connection(self.engine, one_statement=True) as connection:
                found = await core_link_and_enrollment(connection, token_hash)
        if isinstance(key, ServerKey):  # a key to make: below the event loop's priority
            return await KEY_MAKERS.run(check, found, plain=lean is not None)
        return await asyncio.to_thread(check, found, plain=lean is not None)

    def _read_check_and_sign(
        self, token: str, check: Callable[..., LinkSigned], connection: sqlite3.Connection
    ) -> LinkSigned:
        found = sqlite_link_and_enrollment(self.pepper.hash_token(token))(connection)
        return check(found, plain=True)

    def _check_and_sign(
        self,
        found: tuple[LinkRow, EnrollmentRow] | None,
        *,
        purpose: LinkPurpose,
        matches: Callable[[EnrollmentRow], bool],
        key: KeyMaterial,
        delivery: Delivery,
        plain: bool,
    ) -> LinkSigned:
        """In a worker thread: :meth:`signed_for_link`'s checks and signature on the rows read."""
        if found is None:
            raise unknown_link(purpose)
        link, enrollment = found
        self._refuse_unusable(link, purpose)
        self.check_credentials_precondition(enrollment)
        if not matches(enrollment):
            return LinkSigned(link=link, enrollment=enrollment, issue=None)
        profile = get_profile(enrollment.profile)
        self._allow_key(key, profile)
        signed = sign_now(
            self.ca,
            Holder.of_enrollment(enrollment),
            profile,
            key=key,
            delivery=delivery,
            replaces=None,
        )
        facts = self._first_issue(signed, enrollment, via=delivery, link=link)
        unit = sqlite_first_issue(facts) if plain else None
        return LinkSigned(
            link=link, enrollment=enrollment, issue=FirstIssueSigned(signed, facts, unit)
        )

    def _usable(self, link: OneTimeLink | None, purpose: LinkPurpose) -> OneTimeLink:
        self._refuse_unusable(link, purpose)
        assert link is not None
        return link

    def _refuse_unusable(self, link: OneTimeLink | LinkRow | None, purpose: LinkPurpose) -> None:
        """Raise why ``link`` cannot be used: unknown, used, locked or expired."""
        if link is None or link.purpose != purpose:
            raise unknown_link(purpose)
        if link.used_at is not None:
            raise LinkUsed()
        if link.failed_attempts >= self.config.max_failed_attempts:
            raise LinkLocked()
        if link.expires_at <= utcnow():
            raise expired_link(purpose)

    async def claim(self, session: AsyncSession, link: OneTimeLink) -> None:
        """Mark the link used, in one statement; exactly one of several concurrent claims
        succeeds, and only while the link is unexpired and not locked."""
        now = utcnow()
        claimed = await session.execute(
            update(OneTimeLink)
            .where(
                col(OneTimeLink.id) == link.id,
                col(OneTimeLink.used_at).is_(None),
                col(OneTimeLink.expires_at) > now,
                col(OneTimeLink.failed_attempts) < self.config.max_failed_attempts,
            )
            .values(used_at=now)
            .returning(col(OneTimeLink.id))
        )
        if claimed.first() is None:
            current = await session.get(OneTimeLink, link.id, populate_existing=True)
            self._usable(current, LinkPurpose(link.purpose))  # raises why: expired, locked …
            raise LinkUsed()

    def add_link(
        self,
        session: AsyncSession,
        *,
        purpose: LinkPurpose,
        enrollment_id: int | None = None,
        certificate_id: int | None = None,
        owner: str | None,
        verification_code_hash: str | None = None,
        ttl: timedelta | None = None,
    ) -> NewLink:
        values, link = draw_link(
            pepper=self.pepper, config=self.config, purpose=purpose, owner=owner, ttl=ttl
        )
        session.add(
            OneTimeLink(
                **values,
                enrollment_id=enrollment_id,
                certificate_id=certificate_id,
                verification_code_hash=verification_code_hash,
            )
        )
        return link

    # -- enrollments -------------------------------------------------------------------

    async def enrollment_by_reference(
        self, session: AsyncSession, reference: str, *, lock: bool = False
    ) -> Enrollment | None:
        """The enrollment named by ``reference`` (``lock``: with its row lock held), or None."""
        normalized = codes.normalize_reference(reference)
        if not normalized or len(normalized) > 20:  # the column's length
            return None
        query = select(Enrollment).where(col(Enrollment.reference_number) == normalized)
        result = await session.execute(query.with_for_update() if lock else query)
        return result.scalars().first()

    async def existing_enrollment(self, session: AsyncSession, reference: str) -> Enrollment:
        enrollment = await self.enrollment_by_reference(session, reference)
        if enrollment is None:
            raise EnrollmentNotFound(
                f"No enrollment has the reference number {reference!r}. Check the number."
            )
        return enrollment

    @staticmethod
    def check_credentials_precondition(enrollment: Enrollment | EnrollmentRow) -> None:
        if enrollment.locked_at is not None:
            metrics.ENROLLMENT_FAILURES.labels(code=EnrollmentLocked.code).inc()
            raise EnrollmentLocked(enrollment.reference_number)
        if enrollment.status != EnrollmentStatus.PENDING:
            raise not_pending(enrollment)

    async def count_failure(
        self, session: AsyncSession, enrollment: Enrollment | EnrollmentRow
    ) -> EnrollmentLocked | WrongCredentials:
        """Count a wrong code towards the enrollment's lock; the refusal to raise once the
        transaction is committed."""
        now = utcnow()
        limit = self.config.max_failed_attempts
        await session.execute(
            update(Enrollment)
            .where(col(Enrollment.id) == enrollment.id)
            .values(failed_attempts=Enrollment.failed_attempts + 1, updated_at=now)
        )
        locked = await session.execute(
            update(Enrollment)
            .where(
                col(Enrollment.id) == enrollment.id,
                col(Enrollment.failed_attempts) >= limit,
                col(Enrollment.locked_at).is_(None),
            )
            .values(locked_at=now)
        )
        attempts = (
            await session.execute(
                select(Enrollment.failed_attempts).where(col(Enrollment.id) == enrollment.id)
            )
        ).scalar_one()
        reference = enrollment.reference_number
        if locked.rowcount:  # type: ignore[attr-defined]
            audit(
                session,
                actor="system",
                action="enrollment.lock",
                target=reference,
                detail={"failed_attempts": attempts},
            )
        audit(
            session,
            actor="anonymous",
            action="enrollment.wrong_code",
            target=reference,
            outcome="refused",
        )
        if attempts >= limit:
            return EnrollmentLocked(reference)
        return WrongCredentials(attempts_left=limit - attempts)

    # -- certificates --------------------------------------------------------------------

    @staticmethod
    async def certificate_by_serial(session: AsyncSession, serial: str) -> Certificate:
        normalized = normalize_serial(serial)
        cert = None
        if normalized:
            result = await session.execute(
                select(Certificate).where(col(Certificate.serial) == normalized)
            )
            cert = result.scalars().first()
        if cert is None:
            raise CertificateNotFound(
                f"No certificate has the serial number {serial!r}. Check the number "
                "(hexadecimal, as `certdesk inspect` shows it)."
            )
        return cert

    @staticmethod
    async def stored_certificate(
        session: AsyncSession, presented: x509.Certificate, *, lock: bool = False
    ) -> Certificate | None:
        """The row of exactly ``presented`` (serial and fingerprint), or None if it is not ours.
        ``lock`` takes the row lock (PostgreSQL ``FOR UPDATE``)."""
        serial = serial_hex(presented)
        query = select(Certificate).where(col(Certificate.serial) == serial)
        row = (await session.execute(query.with_for_update() if lock else query)).scalars().first()
        if row is None or not hmac.compare_digest(row.fingerprint_sha256, fingerprint(presented)):
            return None
        return row

    @staticmethod
    async def certificates_of(session: AsyncSession, slack_user: str) -> list[Certificate]:
        result = await session.execute(
            select(Certificate)
            .where(col(Certificate.owner_slack_user) == slack_user)
            .order_by(col(Certificate.created_at).desc(), col(Certificate.id).desc())
        )
        return list(result.scalars().all())

    # -- issuing -------------------------------------------------------------------------

    async def sign(
        self,
        holder: Holder,
        profile: Profile,
        *,
        key: KeyMaterial,
        delivery: Delivery,
        replaces: str | None = None,
    ) -> Signed:
        """Check the key (or make one), have the CA sign and package it: all of the slow work
        of an issuance, off the event loop and outside any unit of work.

        Nothing is stored: the caller records the result in a unit (:meth:`record_first` or
        :meth:`record_successor`) whose claims decide whether it is issued. A signature whose
        claim loses a race is dropped and never leaves the server. The whole of it is one hop
        to a worker thread; with a key to make, to one of the key makers, which run below the
        event loop's priority (``_signing.KEY_MAKERS``).
        """
        self._allow_key(key, profile)
        if isinstance(key, ServerKey):  # a key to make: below the event loop's priority
            return await KEY_MAKERS.run(
                sign_now, self.ca, holder, profile, key=key, delivery=delivery, replaces=replaces
            )
        return await asyncio.to_thread(
            sign_now, self.ca, holder, profile, key=key, delivery=delivery, replaces=replaces
        )

    @staticmethod
    def _allow_key(key: KeyMaterial, profile: Profile) -> None:
        """Refuse a server-made key where ``profile`` does not allow one."""
        if isinstance(key, ServerKey) and not profile.allow_server_keygen:
            metrics.ENROLLMENT_FAILURES.labels(code=PolicyError.code).inc()
            raise PolicyError(
                f"The profile {profile.name!r} does not allow the server to generate keys. "
                'Choose "This browser", "USB key" or "My own CSR" instead.'
            )

    async def sign_for_enrollment(
        self, enrollment: Enrollment | EnrollmentRow, *, key: KeyMaterial, delivery: Delivery
    ) -> Signed:
        """:meth:`sign` ``enrollment``'s first certificate (its subject, profile and owner)."""
        profile = get_profile(enrollment.profile)
        holder = Holder.of_enrollment(enrollment)
        return await self.sign(holder, profile, key=key, delivery=delivery)

    async def record_first(
        self,
        session: AsyncSession,
        signed: Signed,
        enrollment: Enrollment | EnrollmentRow,
        *,
        via: str,
        link: OneTimeLink | LinkRow | None = None,
    ) -> None:
        """Record ``enrollment``'s first certificate in the caller's unit: the one path for a
        first certificate (link, EST, CMP).

        The link claimed (if any) and the enrollment claimed (``pending`` -> ``issued``, not
        locked), each in one statement: exactly one of several racing units succeeds, whatever
        they read before. Then the certificate and its audit row. Raising undoes the unit.
        """
        facts = self._first_issue(signed, enrollment, via=via, link=link)
        try:
            await core_first_issue(await session.connection(), facts)
        except ClaimLost as lost:
            raise self._claim_refusal(lost, enrollment) from None

    async def record_signed_link(self, signed: LinkSigned) -> None:
        """Record what :meth:`signed_for_link` signed as a unit of its own (the claims and rows
        of :meth:`record_first`), committed when this returns: on the embedded SQLite the plain
        unit it made, on the writer's connection (``GroupCommit.run``); on PostgreSQL one
        statement on the lean pool (``services/_lean_pg.py``)."""
        issue = signed.issue
        assert issue is not None
        writes = self.writes
        try:
            if issue.plain is not None and isinstance(writes, GroupCommit):
                await writes.run(issue.plain)
            elif self.lean_pg is not None:
                await _lean_pg.first_issue(self.lean_pg, issue.facts)
            elif isinstance(writes, PooledWrites):
                async with writes.core_unit() as connection:
                    await core_first_issue(connection, issue.facts)
            else:
                async with writes.unit() as session:
                    await core_first_issue(await session.connection(), issue.facts)
        except ClaimLost as lost:
            raise self._claim_refusal(lost, signed.enrollment) from None

    def _first_issue(
        self,
        signed: Signed,
        enrollment: Enrollment | EnrollmentRow,
        *,
        via: str,
        link: OneTimeLink | LinkRow | None,
    ) -> FirstIssue:
        assert enrollment.id is not None
        return FirstIssue(
            link_id=None if link is None else link.id,
            enrollment_id=enrollment.id,
            now=utcnow(),
            max_failed_attempts=self.config.max_failed_attempts,
            certificate=signed.row,
            audit={
                "actor": enrollment.slack_user or f"ref:{enrollment.reference_number}",
                "action": "certificate.issue",
                "target": signed.serial,
                "detail": {"reference_number": enrollment.reference_number, "via": via},
            },
        )

    def _claim_refusal(
        self, lost: ClaimLost, enrollment: Enrollment | EnrollmentRow
    ) -> CertdeskError:
        """Why a claim in a first issuance found nothing: the link's state, else the
        enrollment's (locked, or no longer pending)."""
        if lost.claimed_link:
            self._refuse_unusable(lost.link, LinkPurpose.ENROLL)  # expired, locked …
            return LinkUsed()
        if lost.locked:
            return EnrollmentLocked(enrollment.reference_number)
        return not_pending(enrollment)

    async def sign_successor(
        self, old: Certificate, *, key: KeyMaterial, delivery: Delivery
    ) -> Signed:
        """:meth:`sign` a successor of ``old``: same subject, profile, owner and friendly name.
        Before the unit that records it (:meth:`record_successor`)."""
        holder = Holder.of_certificate(old)
        return await self.sign(
            holder, get_profile(old.profile), key=key, delivery=delivery, replaces=old.serial
        )

    async def record_successor(
        self,
        session: AsyncSession,
        signed: Signed,
        *,
        old: Certificate,
        claim: OneTimeLink | None,
        unowned_actor: str = "renewal",
        detail: dict[str, Any] | None = None,
    ) -> None:
        """Record ``signed`` as ``old``'s successor in the caller's unit: the one path for
        renewal link, possession and CMP kur.

        ``claim`` (a renewal link) is claimed, and ``old`` marked superseded only while it is
        still active, each in one statement: of several racing renewals of one certificate
        exactly one unit succeeds, the others raise (and undo their claim). The audit names
        ``old``'s Slack owner, else ``{unowned_actor}:{old.serial}``.
        """
        if claim is not None:
            await self.claim(session, claim)
        superseded = await session.execute(
            update(Certificate)
            .where(
                col(Certificate.id) == old.id,
                col(Certificate.status) == CertificateStatus.ACTIVE,
            )
            .values(status=CertificateStatus.SUPERSEDED, superseded_by=signed.serial)
            .returning(col(Certificate.id))
            .execution_options(synchronize_session=False)
        )
        if superseded.first() is None:
            raise CertificateNotActive(
                f"Certificate {old.serial} was renewed or revoked a moment ago. "
                "Ask the certdesk bot in Slack for your current certificates."
            )
        await self._record(session, signed)
        audit(
            session,
            actor=old.owner_slack_user or f"{unowned_actor}:{old.serial}",
            action="certificate.renew",
            target=signed.serial,
            detail={"replaces": old.serial, "via": signed.issued.delivery, **(detail or {})},
        )

    @staticmethod
    async def _record(session: AsyncSession, signed: Signed) -> None:
        """The certificate's row, one INSERT (Core: no ORM flush on the hot path)."""
        await session.execute(insert(Certificate), [signed.row])


def unknown_link(purpose: LinkPurpose) -> LinkUnknown:
    """The refusal of a link that does not exist, with the advice for its kind (the page or
    API path says which kind the holder meant)."""
    return RenewalLinkUnknown() if purpose == LinkPurpose.RENEW else LinkUnknown()


def expired_link(purpose: LinkPurpose) -> LinkExpired:
    """The refusal of an expired link, with the advice for its kind (as :func:`unknown_link`)."""
    return RenewalLinkExpired() if purpose == LinkPurpose.RENEW else LinkExpired()
