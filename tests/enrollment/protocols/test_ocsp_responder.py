"""The responder's reads and failures, with the domain edge played by a small store double:
every answer comes from a read begun after its request arrived; an unreadable store is
``tryLater``, never a 500."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp

from common.time import utcnow
from enrollment.ca.authority import IssuingCA, build_subject, load_or_create_local_ca
from enrollment.ca.crl import RevokedEntry, SerialState
from enrollment.ca.ocsp_signer import SignerPolicy
from enrollment.ca.profiles import get_profile
from enrollment.db import UNAVAILABLE
from enrollment.errors import StorageUnavailable
from enrollment.protocols.ocsp import http as ocsp_http
from enrollment.protocols.ocsp.messages import OcspRefusal, parse_request
from enrollment.protocols.ocsp.responder import FreshStates, OcspResponder, ResponderConfig
from tests.enrollment.protocols.test_ocsp import request_der


class HeldStore:
    """Answers what ``revoked`` said when each read began (a database snapshot); the first read
    waits for ``release`` so a test can act while it is in flight."""

    def __init__(self) -> None:
        self.revoked: set[str] = set()
        self.reads: list[list[str]] = []
        self.release = asyncio.Event()
        self.failure: Exception | None = None

    async def serial_states(self, serials: Sequence[str]) -> Mapping[str, SerialState]:
        self.reads.append(list(serials))
        snapshot = set(self.revoked)
        if len(self.reads) == 1:
            await self.release.wait()
        if self.failure is not None:
            raise self.failure
        now = utcnow()
        return {
            s: SerialState(
                issued=True,
                revoked=RevokedEntry(serial=s, revoked_at=now, reason="keyCompromise")
                if s in snapshot
                else None,
            )
            for s in serials
        }


async def settle() -> None:
    """Let every ready task run until it waits."""
    for _ in range(10):
        await asyncio.sleep(0)


async def test_requests_arriving_during_a_read_wait_for_the_next_one() -> None:
    store = HeldStore()
    states = FreshStates(store)
    first = asyncio.create_task(states.state("a1"))
    await settle()
    assert store.reads == [["a1"]]
    store.revoked.add("a1")  # revoked while the first read is in flight
    late = [asyncio.create_task(states.state(s)) for s in ("a1", "b2", "a1")]
    await settle()
    assert len(store.reads) == 1  # they queue behind the read in flight
    store.release.set()
    assert (await first).revoked is None  # its read began before the revocation
    results = await asyncio.gather(*late)
    assert store.reads == [["a1"], ["a1", "b2"]]  # one more read for all three
    assert results[0].revoked is not None
    assert results[1].revoked is None
    assert results[2].revoked is not None


def _ca(tmp_path: Path) -> IssuingCA:
    return load_or_create_local_ca(
        tmp_path / "ca", key_type="ec-p256", organization="Acme CA", crl_url=None
    )


async def test_an_unreadable_store_answers_try_later(
    tmp_path: Path, aiohttp_client: Callable[..., Any]
) -> None:
    ca = _ca(tmp_path)
    store = HeldStore()
    store.release.set()
    store.failure = StorageUnavailable(UNAVAILABLE)
    app = web.Application()
    app[ocsp_http.RESPONDER] = OcspResponder(
        ca=ca,
        states=store,
        config=ResponderConfig(
            lifetime=timedelta(days=7), refresh=timedelta(days=1), signer_directory=tmp_path / "ca"
        ),
    )
    ocsp_http.add_routes(app)
    client = await aiohttp_client(app)
    leaf = ca.issue(
        public_key=ec.generate_private_key(ec.SECP256R1()).public_key(),
        subject=build_subject(cn="Holder", o="Acme"),
        profile=get_profile("client"),
    )
    response = await client.post("/ocsp", data=request_der(leaf, ca.certificate))
    assert response.status == 200
    answer = ocsp.load_der_ocsp_response(await response.read())
    assert answer.response_status == ocsp.OCSPResponseStatus.TRY_LATER
    store.failure = None
    again = ocsp.load_der_ocsp_response(
        await (await client.post("/ocsp", data=request_der(leaf, ca.certificate))).read()
    )
    assert again.certificate_status == ocsp.OCSPCertStatus.GOOD
    assert parse_request(request_der(leaf, ca.certificate)).serial == leaf.serial_number


async def test_no_usable_signer_answers_try_later(tmp_path: Path) -> None:
    """The signer's directory cannot be written (and no signer exists): tryLater, not a 500."""
    ca = _ca(tmp_path)
    store = HeldStore()
    store.release.set()
    responder = OcspResponder(
        ca=ca,
        states=store,
        config=ResponderConfig(
            lifetime=timedelta(days=7),
            refresh=timedelta(days=1),
            signer_directory=tmp_path / "missing" / "directory",
        ),
    )
    leaf = ca.issue(
        public_key=ec.generate_private_key(ec.SECP256R1()).public_key(),
        subject=build_subject(cn="Holder", o="Acme"),
        profile=get_profile("client"),
    )
    with pytest.raises(OcspRefusal) as refused:
        await responder.answer(parse_request(request_der(leaf, ca.certificate)))
    assert refused.value.status == ocsp.OCSPResponseStatus.TRY_LATER


def test_responder_config_refuses_answers_outliving_their_signer(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="renew_before"):
        ResponderConfig(
            lifetime=timedelta(days=7),
            refresh=timedelta(days=1),
            signer_directory=tmp_path,
            signer_policy=SignerPolicy(validity=timedelta(days=2), renew_before=timedelta(days=1)),
        )
