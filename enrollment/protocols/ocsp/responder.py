"""The OCSP responder: the store's answer for every request, signed by the delegated signer.

Every request reads the certificate's state from the database (one indexed read on a read-only
connection, :class:`SerialStates`), whichever process revoked it (the CLI, Slack, CMP), so a
revocation shows on the very next request. Only *good* answers without a nonce are kept
signed, keyed by serial and signer certificate: a good answer is used only while the store still
says "not revoked", is signed again after ``refresh`` (the CRL's refresh period), and the cache
empties when the signer rotates. Revoked and unknown answers, and any with a nonce, are signed
for the request. Signing runs in a worker thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

from common.time import utcnow
from enrollment.ca.authority import IssuingCA
from enrollment.ca.crl import SerialState
from enrollment.ca.ocsp_signer import OcspSigner, SignerPolicy, load_or_rotate_signer
from enrollment.protocols.ocsp.messages import (
    TRY_LATER,
    UNAUTHORIZED,
    IssuerHashes,
    OcspQuery,
    OcspRefusal,
    SignedAnswer,
    sign_answer,
)

log = logging.getLogger(__name__)

MAX_CACHED = 100_000


MAX_BATCH = 500


class SerialStates(Protocol):
    """The one call the responder makes on the domain (``services.revocation.Revocation``)."""

    async def serial_states(self, serials: Sequence[str]) -> Mapping[str, SerialState]: ...


class FreshStates:
    """Each request's state from a database read that *began after the request arrived*,
    shared by the requests waiting together: while one read runs, newcomers queue for the
    next, which asks for all their serials at once (up to ``MAX_BATCH``). Under load one query
    serves many requests; alone, a request waits for exactly one read."""

    def __init__(self, states: SerialStates) -> None:
        self._states = states
        self._waiting: dict[str, list[asyncio.Future[SerialState]]] = {}
        self._reader: asyncio.Task[None] | None = None

    async def state(self, serial: str) -> SerialState:
        future: asyncio.Future[SerialState] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(serial, []).append(future)
        if self._reader is None:
            self._reader = asyncio.create_task(self._read_while_waiting())
        return await future

    async def _read_while_waiting(self) -> None:
        try:
            while self._waiting:
                serials = list(self._waiting)[:MAX_BATCH]
                batch = {serial: self._waiting.pop(serial) for serial in serials}
                try:
                    states = await self._states.serial_states(serials)
                except Exception as exc:
                    for futures in batch.values():
                        for future in futures:
                            if not future.done():
                                future.set_exception(exc)
                    continue
                for serial, futures in batch.items():
                    for future in futures:
                        if not future.done():
                            future.set_result(states[serial])
        finally:
            self._reader = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponderConfig:
    """``lifetime``: thisUpdate to nextUpdate (the CRL's validity); ``refresh``: how long a
    signed good answer is served before it is signed again (the CRL's refresh period)."""

    lifetime: timedelta
    refresh: timedelta
    signer_directory: Path
    signer_policy: SignerPolicy = field(default_factory=SignerPolicy)

    def __post_init__(self) -> None:
        if not timedelta(0) < self.refresh <= self.lifetime:
            raise ValueError("refresh must be positive and at most lifetime")
        if self.signer_policy.renew_before < self.lifetime:
            # An answer signed just before rotation must not outlive its signer's certificate.
            raise ValueError("the signer's renew_before must be at least the answers' lifetime")


class OcspResponder:
    def __init__(
        self,
        *,
        ca: IssuingCA,
        states: SerialStates,
        config: ResponderConfig,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._clock = clock
        self._ca = ca
        self._issuer = IssuerHashes.of(ca.certificate)
        self._states = FreshStates(states)
        self._config = config
        self._signer: OcspSigner | None = None
        self._signer_lock = asyncio.Lock()
        # Keyed by serial and CertID hash: an answer names the CertID the client asked with.
        self._good: OrderedDict[tuple[int, str], SignedAnswer] = OrderedDict()
        self._pending: dict[tuple[int, str], asyncio.Future[SignedAnswer]] = {}

    @property
    def signer(self) -> OcspSigner | None:
        return self._signer

    @property
    def refresh(self) -> timedelta:
        return self._config.refresh

    async def prepare(self) -> OcspSigner:
        """The current signer, loaded or rotated (off the loop) when there is none or it is due."""
        signer = self._signer
        now = self._clock()
        if signer is not None and not signer.due_for_rotation(self._config.signer_policy, now):
            return signer
        async with self._signer_lock:
            signer = self._signer
            if signer is not None and not signer.due_for_rotation(self._config.signer_policy, now):
                return signer
            try:
                fresh = await asyncio.to_thread(
                    load_or_rotate_signer,
                    self._config.signer_directory,
                    ca=self._ca,
                    policy=self._config.signer_policy,
                    now=now,
                )
            except Exception:
                if signer is None or now >= signer.certificate.not_valid_after_utc:
                    raise
                log.warning("OCSP signer rotation failed; the current one is still valid")
                return signer
            if signer is None or fresh.certificate != signer.certificate:
                log.info(
                    "OCSP signer ready",
                    extra={"not_after": fresh.certificate.not_valid_after_utc.isoformat()},
                )
                self._good.clear()
            self._signer = fresh
            return fresh

    async def answer(self, query: OcspQuery) -> SignedAnswer:
        """The signed answer for ``query``; :class:`OcspRefusal` for another issuer's serial."""
        if not self._issuer.names(query):
            raise OcspRefusal(UNAUTHORIZED, "the request names another issuer")
        try:
            signer = await self.prepare()
        except Exception as exc:  # no valid signer and none can be made now (HSM, disk)
            log.warning("OCSP signer unavailable", extra={"error": type(exc).__name__})
            raise OcspRefusal(TRY_LATER, "no usable OCSP signer") from None
        state = await self._states.state(query.serial_hex)
        if query.nonce is not None or not state.issued or state.revoked is not None:
            self._good.pop(cache_key(query), None)
            return await self._sign(query, state, signer)
        now = self._clock()
        cached = self._good.get(cache_key(query))
        if cached is not None and now < cached.this_update + self._config.refresh:
            return cached
        return await self._sign_good_once(query, state, signer)

    async def _sign_good_once(
        self, query: OcspQuery, state: SerialState, signer: OcspSigner
    ) -> SignedAnswer:
        """One signature for concurrent requests about the same good serial."""
        key = cache_key(query)
        pending = self._pending.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[SignedAnswer] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            signed = await self._sign(query, state, signer)
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: the waiters get it, nobody else must
            raise
        except BaseException:
            future.cancel()
            raise
        finally:
            del self._pending[key]
        future.set_result(signed)
        if signer is self._signer:
            self._good[key] = signed
            self._good.move_to_end(key)
            while len(self._good) > MAX_CACHED:
                self._good.popitem(last=False)
        return signed

    async def _sign(self, query: OcspQuery, state: SerialState, signer: OcspSigner) -> SignedAnswer:
        this_update = self._clock().replace(microsecond=0)
        return await asyncio.to_thread(
            sign_answer,
            query,
            issued=state.issued,
            revoked=state.revoked,
            signer=signer,
            this_update=this_update,
            next_update=this_update + self._config.lifetime,
        )


def cache_key(query: OcspQuery) -> tuple[int, str]:
    """The serial and the CertID hash (the issuer's hashes follow from it: one issuer)."""
    return (query.serial, query.algorithm.name)


def cache_max_age(answer: SignedAnswer, *, refresh: timedelta, now: datetime) -> int:
    """Seconds an HTTP cache may keep a GET answer (RFC 5019 6.2): until certdesk would sign
    it again, never past nextUpdate."""
    until = min(answer.this_update + refresh, answer.next_update)
    return max(0, int((until - now).total_seconds()))
