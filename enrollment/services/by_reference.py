"""Redemption by reference number, without a link: EST sends the authorization code, CMP
proves it (a MAC keyed with the code derived for the enrollment)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from enrollment import codes, metrics
from enrollment.errors import (
    CodeNotDerivable,
    CredentialsRefused,
    EnrollmentLocked,
    PolicyError,
)
from enrollment.models import Certificate, Delivery, Enrollment
from enrollment.ratelimit import WindowLimiter
from enrollment.services._store import Store
from enrollment.services.results import IssuedCertificate, KeyMaterial, csr_delivery

log = logging.getLogger(__name__)

PROTOCOL_FAILURE_WINDOW = timedelta(minutes=15)

# Compared against when a reference number is unknown, so that case costs what a wrong code does.
_NO_CODE_HASH = "0" * 64

# Checks a protocol message's proof of the authorization code (e.g. a CMP MAC). Blocking.
CodeProof = Callable[[str], bool]
# Checks the authorization code against an enrollment found by its reference number; called
# with None for an unknown reference number, where it does the same work and answers False.
CodeCheck = Callable[[Enrollment | None], Awaitable[bool]]
# Why a reference number and code were refused (the protocol chooses what to answer).
_CodeRefusal = CredentialsRefused


class ReferenceRedemption:
    """Issuance to protocols that name the enrollment by its reference number (EST, CMP)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        # Wrong codes on the protocol paths, per reference number: in memory (per process),
        # apart from the holder's link, so a stranger who knows a reference number cannot
        # lock the holder's enrollment; past the limit the reference is refused for the window.
        self._failures = WindowLimiter(
            limit=store.config.max_failed_attempts, window=PROTOCOL_FAILURE_WINDOW
        )

    async def redeem_by_reference(
        self,
        reference_number: str,
        *,
        authorization_code: str,
        csr: str | bytes,
        delivery: str = "csr",
        via: str = "est",
        profile: str | None = None,
    ) -> IssuedCertificate:
        """Issue a pending enrollment's certificate without a link: the reference number names
        the enrollment, the authorization code (sent as is, e.g. EST's HTTP Basic password)
        proves the right to it.

        The protocol adapter passes the reference number and authorization code exactly as the
        client sent them; they are checked here, in this order, on a read (a refusal writes
        nothing), and the unit of work that records the certificate claims the enrollment
        (``pending`` -> ``issued``, not locked) in one statement, so a race gives one:

        1. unknown reference number, wrong code, a wrong code on a locked enrollment, or a
           reference number over its limit -> :class:`CredentialsRefused`: the same answer
           after the same work, nothing written (protocol failures are counted in memory per
           reference number, apart from the holder's link, which they never lock);
        2. the right code on a locked enrollment -> :class:`EnrollmentLocked`;
        3. enrollment not pending (already issued, also through a link) ->
           :class:`EnrollmentNotPending`, only now that the caller has proved the code;
        4. ``profile`` given and not the enrollment's -> :class:`PolicyError`;
        5. the CSR (self-signature, allowed key): :class:`CsrError`, nothing written.

        Then the certificate is issued exactly as for a link (subject from the
        enrollment, never from the CSR); the enrollment becomes ``issued``, so its one-time
        links stop working (they answer :class:`EnrollmentNotPending`). ``delivery`` is
        ``browser``, ``csr`` or ``token`` as for links; ``via`` names the protocol in the audit
        event ``certificate.issue`` (``{"via": "est"}``).
        """
        checked_delivery = csr_delivery(delivery)
        pepper = self._store.pepper

        async def check(enrollment: Enrollment | None) -> bool:
            stored = _NO_CODE_HASH if enrollment is None else enrollment.authorization_code_hash
            return pepper.code_matches(authorization_code, stored) and enrollment is not None

        return await self._redeem(
            reference_number,
            check=check,
            key=csr,
            delivery=checked_delivery,
            via=via,
            profile=profile,
        )

    async def redeem_with_derived_code(
        self,
        reference_number: str,
        *,
        proves_code: CodeProof,
        key: KeyMaterial,
        delivery: Delivery = Delivery.CMP,
        via: str = "cmp",
    ) -> IssuedCertificate:
        """Issue an enrollment's certificate to a protocol client that proves the code.

        For protocols whose messages prove knowledge of the authorization code instead of
        sending it (CMP's MAC): ``proves_code(code)`` is called (in a thread) with the code
        derived for the enrollment, outside any transaction (:meth:`_prove_derived_code`);
        then the same checks, in the same order and with the same claim, as
        :meth:`redeem_by_reference` (the same :class:`CredentialsRefused` for unknown, wrong and
        locked); an enrollment made before derived codes raises :class:`CodeNotDerivable`
        (nothing counted).
        """
        return await self._redeem(
            reference_number,
            check=await self._prove_derived_code(reference_number, proves_code),
            key=key,
            delivery=delivery,
            via=via,
        )

    async def authenticate_with_derived_code(
        self, reference_number: str, *, proves_code: CodeProof
    ) -> tuple[Enrollment, list[Certificate]]:
        """The enrollment whose code ``proves_code`` accepts, and its certificates (newest
        first); the same checks and counting as :meth:`redeem_with_derived_code`, no issuance.
        For follow-up messages such as CMP's certConf."""
        failure: _CodeRefusal | None = None
        check = await self._prove_derived_code(reference_number, proves_code)
        async with self._store.read() as session:  # only reads: refusals are counted in memory
            enrollment, failure = await self._authenticate(session, reference_number, check)
            if failure is None:
                assert enrollment is not None
                rows = await session.execute(
                    select(Certificate)
                    .where(col(Certificate.enrollment_id) == enrollment.id)
                    .order_by(col(Certificate.created_at).desc(), col(Certificate.id).desc())
                )
                certificates = list(rows.scalars().all())
        if failure is not None:
            metrics.ENROLLMENT_FAILURES.labels(code=failure.code).inc()
            raise failure
        assert enrollment is not None
        return enrollment, certificates

    def transaction_nonce(self, transaction_id: bytes, serial: str) -> bytes:
        """A nonce bound to a protocol transaction and a certificate, recomputable by every
        process (CMP: the ip's senderNonce, which the certConf must echo)."""
        digest = self._store.pepper.digest("cmp-nonce", f"{transaction_id.hex()}:{serial}")
        return bytes.fromhex(digest)[:16]

    async def _redeem(
        self,
        reference_number: str,
        *,
        check: CodeCheck,
        key: KeyMaterial,
        delivery: Delivery,
        via: str,
        profile: str | None = None,
    ) -> IssuedCertificate:
        """The shared path of :meth:`redeem_by_reference` and :meth:`redeem_with_derived_code`:
        authenticate (``check``), then issue as for a link."""
        store = self._store
        async with store.read() as session:
            enrollment, failure = await self._authenticate(session, reference_number, check)
        if failure is not None:
            metrics.ENROLLMENT_FAILURES.labels(code=failure.code).inc()
            raise failure
        assert enrollment is not None
        store.check_credentials_precondition(enrollment)
        if profile is not None and enrollment.profile != profile:
            metrics.ENROLLMENT_FAILURES.labels(code=PolicyError.code).inc()
            raise PolicyError(
                f"Enrollment {enrollment.reference_number} is for the profile "
                f"{enrollment.profile!r}, not {profile!r}. Enroll without a label "
                f"or with the label {enrollment.profile!r}."
            )
        # Sign before the unit; its claim (pending -> issued, not locked) decides, so of two
        # racing redemptions (or a link's) one is recorded and the other's signature dropped.
        signed = await store.sign_for_enrollment(enrollment, key=key, delivery=delivery)
        async with store.write() as session:
            await store.record_first(session, signed, enrollment, via=via)
        metrics.CERTIFICATES_ISSUED.labels(profile=signed.profile.name, delivery=delivery).inc()
        return signed.issued

    async def _authenticate(
        self, session: AsyncSession, reference_number: str, check: CodeCheck
    ) -> tuple[Enrollment | None, _CodeRefusal | None]:
        """The enrollment named by ``reference_number`` if ``check`` accepts the code; else the
        refusal to raise (read only: the unit that issues re-checks the enrollment's state).

        Unknown, wrong, locked-and-wrong and over-the-limit cost the same work (one ``check``)
        and write nothing; each counts in memory towards the reference number's limit. Only
        the right code hears that the enrollment is locked.
        """
        store = self._store
        key = codes.normalize_reference(reference_number)[:20]
        limited = self._failures.retry_after(key) is not None
        enrollment = await store.enrollment_by_reference(session, reference_number)
        proven = await check(enrollment)  # the same work for unknown, wrong, locked, limited
        if enrollment is None or not proven or limited:
            self._failures.hit(key)
            log.info("protocol credentials refused", extra={"reference": key})
            return enrollment, CredentialsRefused(store.config.max_failed_attempts)
        if enrollment.locked_at is not None:  # only whoever proved the code learns this
            metrics.ENROLLMENT_FAILURES.labels(code=EnrollmentLocked.code).inc()
            raise EnrollmentLocked(enrollment.reference_number)
        return enrollment, None

    async def _prove_derived_code(self, reference_number: str, proves_code: CodeProof) -> CodeCheck:
        """Run ``proves_code`` (in a thread) on the enrollment's derived code, with no write
        lock and no transaction held (a CMP MAC costs thousands of hashes); the answer is a
        :data:`CodeCheck` for the read that then refuses or issues.

        The salt is read in a read-only transaction (on SQLite without the write lock). An
        unknown reference number costs the same work on a random code, and so does a locked
        enrollment (only the right code hears that it is locked); no salt raises
        :class:`CodeNotDerivable`. The check accepts the proof only for the salt it was made
        with (an enrollment's code never changes).
        """
        store = self._store
        async with store.read() as session:
            enrollment = await store.enrollment_by_reference(session, reference_number)
        if enrollment is None:
            salt = None
            await asyncio.to_thread(proves_code, codes.new_authorization_code())  # same work
            proven = False
        else:
            if enrollment.code_salt is None:
                metrics.ENROLLMENT_FAILURES.labels(code=CodeNotDerivable.code).inc()
                raise CodeNotDerivable(enrollment.reference_number)
            salt = enrollment.code_salt
            code = store.pepper.derive_code(enrollment.reference_number, salt)
            proven = await asyncio.to_thread(proves_code, code)

        async def check(locked: Enrollment | None) -> bool:
            return proven and locked is not None and locked.code_salt == salt

        return check
