"""CMP under hostile input (issue 10, findings 2, 3 and 10): the PBM cost is capped and paid
outside any write lock, the message work runs off the event loop, oversized and inflated
messages are refused before they are decoded, and the CA key signs nothing for a stranger.
Against the real application (aiohttp test server, SQLite or PostgreSQL)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from enrollment.errors import CredentialsRefused
from enrollment.protocols import cmp
from enrollment.protocols.cmp import FailInfo
from enrollment.protocols.cmp.authentication import code_spellings
from enrollment.services import EnrollmentCreate
from enrollment.services.results import ProvenKey
from tests.enrollment.conftest import HOLDER, app_runtime
from tests.enrollment.protocols.test_cmp import SECRET, ir, new_key, self_signed
from tests.fuzz.mutations import budget
from tests.support import cmp_messages
from tests.support.pki import bad_version, make_csr, negative_serial

OTHER = EnrollmentCreate(cn="Other Holder", ous=["Branch 02"], o="Acme Bank")


async def post_cmp(client: TestClient[Any, Any], body: bytes) -> tuple[int, bytes]:
    response = await client.post(
        "/.well-known/cmp", data=body, headers={"Content-Type": cmp.CONTENT_TYPE}
    )
    assert response.content_type == cmp.CONTENT_TYPE
    return response.status, await response.read()


# -- finding 2: the PasswordBasedMac's cost ---------------------------------------------------


def test_pbm_iterations_over_the_cap_refused_saying_the_cap() -> None:
    """100,000 iterations (once accepted: ~300 ms of hashing per request) are refused."""
    with pytest.raises(cmp.CmpError) as caught:
        cmp.MacCheck(cmp.parse(ir(iterations=100_000)))
    assert caught.value.fail_info == FailInfo.BAD_MESSAGE_CHECK
    assert "limit of 10000" in caught.value.text
    assert cmp.MAX_PBM_ITERATIONS == 10_000


async def test_pbm_iterations_over_the_cap_answered_with_a_cmp_error(
    client: TestClient[Any, Any],
) -> None:
    created = await app_runtime(client).services.ra.create_enrollment(HOLDER, actor="test")
    body = ir(
        secret=created.authorization_code.encode(),
        reference=created.reference_number.encode(),
        iterations=100_000,
    )
    status, answer = await post_cmp(client, body)
    assert status == 200
    code, text, bits = cmp_messages.status_text(answer)
    assert (code, bits) == (2, [FailInfo.BAD_MESSAGE_CHECK])
    assert "limit of 10000" in text
    assert not cmp_messages.decode(answer)["protection"].isValue


def test_pbm_at_the_cap_matches_the_independent_implementation() -> None:
    """The faster key derivation computes what RFC 4210 says (tests/support's own PBM)."""
    request = cmp.parse(ir(iterations=cmp.MAX_PBM_ITERATIONS))
    params = request.mac_parameters
    assert params.compute(SECRET, b"data") == cmp_messages.pbm(
        SECRET, params.salt, cmp.MAX_PBM_ITERATIONS, b"data"
    )
    assert cmp.MacCheck(request)(SECRET.decode())


def test_mac_check_tries_two_spellings_only() -> None:
    """Each spelling is one PBM derivation: printed and without dashes, not lower case."""
    assert code_spellings("ABCD-EFGH") == ("ABCD-EFGH", "ABCDEFGH")
    check = cmp.MacCheck(cmp.parse(ir(secret=SECRET.lower())))
    assert check(SECRET.decode()) is False


@pytest.mark.parametrize("known", [True, False], ids=["known-reference", "unknown-reference"])
async def test_derived_code_proof_holds_no_write_lock(
    client: TestClient[Any, Any], tmp_path: Path, known: bool
) -> None:
    """While a CMP proof is being verified (held here in its thread), an enrollment through
    the API completes: the verification runs outside any transaction. Then the proof is
    released and the CMP redemption finishes (issues, or refuses the unknown number)."""
    services = app_runtime(client).services
    created = await services.ra.create_enrollment(HOLDER, actor="test")
    other = await services.ra.create_enrollment(OTHER, actor="test")
    entered, release = threading.Event(), threading.Event()

    def held_proof(code: str) -> bool:
        entered.set()
        release.wait(timeout=120)  # a safety net only; released below
        return code == created.authorization_code

    reference = created.reference_number if known else "1000000001"
    redemption = asyncio.create_task(
        services.by_reference.redeem_with_derived_code(
            reference, proves_code=held_proof, key=ProvenKey(public_key=new_key().public_key())
        )
    )
    try:
        assert await asyncio.to_thread(entered.wait, 60)
        _, csr = make_csr(tmp_path)
        response = await client.post(
            f"/api/v1/enroll/{other.link.token}",
            json={
                "reference_number": other.reference_number,
                "authorization_code": other.authorization_code,
                "csr": csr,
            },
        )
        assert response.status == 201, await response.text()
        assert not release.is_set()  # the API write finished while the proof was held
    finally:
        release.set()
    if known:
        assert (await redemption).serial
    else:
        with pytest.raises(CredentialsRefused):  # answered as a wrong code (no enumeration)
            await redemption


# -- finding 3: parsing off the loop, size and list limits ------------------------------------


async def test_parse_and_popo_run_off_the_event_loop(
    client: TestClient[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    loop_thread = threading.get_ident()
    threads: dict[str, int] = {}
    for name in ("parse", "cert_request"):
        original = getattr(cmp, name)

        def recording(*args: Any, _name: str = name, _original: Any = original) -> Any:
            threads[_name] = threading.get_ident()
            return _original(*args)

        monkeypatch.setattr(cmp, name, recording)
    created = await app_runtime(client).services.ra.create_enrollment(HOLDER, actor="test")
    body = ir(
        secret=created.authorization_code.encode(), reference=created.reference_number.encode()
    )
    status, answer = await post_cmp(client, body)
    assert status == 200
    assert cmp_messages.status_text(answer)[0] == 0  # issued
    assert set(threads) == {"parse", "cert_request"}
    assert loop_thread not in threads.values()


def many_certs(count: int) -> tuple[x509.Certificate, ...]:
    cert, _ = self_signed("Filler")
    return (cert,) * count


@pytest.mark.parametrize(
    ("options", "what"),
    [
        ({"free_text": ("",) * 9}, "9 freeText strings"),
        ({"free_text": ("",) * 7000}, "7000 freeText strings"),
        ({"general_info": 9}, "9 generalInfo entries"),
        ({"extra_certs": many_certs(9)}, "9 extraCerts"),
    ],
    ids=["9-free-texts", "7000-free-texts", "9-general-info", "9-extra-certs"],
)
async def test_inflated_lists_refused_before_decoding(
    client: TestClient[Any, Any], options: dict[str, Any], what: str
) -> None:
    body = ir(**options)
    assert len(body) <= cmp.MAX_MESSAGE_BYTES
    status, answer = await post_cmp(client, body)
    assert status == 400
    code, text, bits = cmp_messages.status_text(answer)
    assert (code, bits) == (2, [FailInfo.BAD_REQUEST])
    assert what in text
    assert f"at most {cmp.MAX_LIST_ELEMENTS}" in text


def test_inflated_lists_refused_without_the_decoder(monkeypatch: pytest.MonkeyPatch) -> None:
    """The count is read from the DER cut, before pyasn1 decodes the message."""
    from enrollment.protocols.cmp import parsing

    def no_decoder(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("decoded")

    inflated = ir(free_text=("",) * 9)
    monkeypatch.setattr(parsing, "der_decoder", SimpleNamespace(decode=no_decoder))
    with pytest.raises(cmp.CmpError, match="at most 8"):
        cmp.parse(inflated)


async def test_lists_at_the_limit_accepted(client: TestClient[Any, Any]) -> None:
    count = cmp.MAX_LIST_ELEMENTS
    created = await app_runtime(client).services.ra.create_enrollment(HOLDER, actor="test")
    body = ir(
        secret=created.authorization_code.encode(),
        reference=created.reference_number.encode(),
        free_text=("hello",) * count,
        general_info=count,
    )
    status, answer = await post_cmp(client, body)
    assert (status, cmp_messages.status_text(answer)[0]) == (200, 0)


@pytest.mark.parametrize(
    ("damage", "says"),
    [
        pytest.param(bad_version, "extraCerts entry is malformed", id="version-5"),
        pytest.param(
            negative_serial,
            "serial number of zero or less, which RFC 5280 forbids",
            id="serial",
        ),
    ],
)
async def test_extra_cert_the_library_would_not_read_cleanly_is_refused(
    client: TestClient[Any, Any], damage: Callable[[x509.Certificate], bytes], says: str
) -> None:
    """Both found by the mutation fuzzer: an extraCerts entry with version 5 (cryptography's
    InvalidVersion, which is no ValueError) or with a negative serial number (loaded with a
    deprecation warning; RFC 5280 forbids it) is a CMP error, not a 500."""
    (cert,) = many_certs(1)
    body = ir(extra_certs=(cert,))
    der = cert.public_bytes(serialization.Encoding.DER)
    status, answer = await post_cmp(client, body.replace(der, damage(cert)))
    assert status == 200  # a readable PKIMessage: the refusal is in it (RFC 6712 section 3.3)
    code, text, bits = cmp_messages.status_text(answer)
    assert (code, bits) == (2, [FailInfo.BAD_DATA_FORMAT])
    assert says in text


@pytest.mark.parametrize("hostile", ["62-kb-free-texts", "20-kb-one-text"])
async def test_messages_over_16_kib_refused_with_413(
    client: TestClient[Any, Any], hostile: str
) -> None:
    body = (
        ir(free_text=("",) * 31_000)
        if hostile == "62-kb-free-texts"
        else ir(free_text=("x" * 20_000,))
    )
    assert len(body) > 16 * 1024
    status, answer = await post_cmp(client, body)
    assert status == 413
    code, text, bits = cmp_messages.status_text(answer)
    assert (code, bits) == (2, [FailInfo.BAD_DATA_FORMAT])
    assert "over 16 KiB" in text


# -- finding 10: no CA signature for a stranger -----------------------------------------------


def signed_by_stranger(body_type: str) -> bytes:
    cert, key = self_signed("Test Holder 01")
    if body_type == "kur":
        body = cmp_messages.cert_request_body(new_key(), body_type="kur")
    else:
        body = cmp_messages.cert_conf_body(b"h" * 32)
    return cmp_messages.request(body, secret=None, signer=key, extra_certs=(cert,))


@pytest.mark.parametrize("body_type", ["kur", "certConf"])
async def test_request_signed_by_a_foreign_certificate_answered_unprotected(
    client: TestClient[Any, Any], body_type: str
) -> None:
    """A self-made certificate's signature verifies, but the certificate is not ours: the
    refusal is not signed by the CA key (and carries no CA certificates)."""
    status, answer = await post_cmp(client, signed_by_stranger(body_type))
    assert status == 200
    message = cmp_messages.decode(answer)
    assert not message["protection"].isValue
    assert not message["header"]["protectionAlg"].isValue
    code, _, bits = cmp_messages.status_text(answer)
    expected = FailInfo.SIGNER_NOT_TRUSTED if body_type == "kur" else FailInfo.BAD_CERT_ID
    assert (code, bits) == (2, [expected])


# -- fuzzing: mutations of valid messages -----------------------------------------------------


def _valid_messages(reference: bytes, code: bytes) -> list[bytes]:
    def body() -> Any:
        return cmp_messages.cert_request_body(new_key())

    return [
        cmp_messages.request(body(), secret=code, reference=reference, iterations=100),
        cmp_messages.request(body(), secret=b"WRNG-WRNG-WRNG-WRNG", iterations=100),
        cmp_messages.request(
            cmp_messages.cert_request_body(new_key(), body_type="cr"),
            secret=code,
            reference=reference,
            iterations=100,
            implicit_confirm=True,
        ),
        cmp_messages.request(
            cmp_messages.cert_conf_body(b"h" * 32), secret=code, reference=reference, iterations=100
        ),
        signed_by_stranger("kur"),
        signed_by_stranger("certConf"),
    ]


@st.composite
def mutations(draw: st.DrawFn, valid: list[bytes]) -> bytes:
    data = bytearray(draw(st.sampled_from(valid)))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "set", "insert", "delete", "truncate", "repeat"]))
        position = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[position] ^= draw(st.integers(1, 255))
        elif kind == "set" and data:
            data[position] = draw(st.sampled_from([0x00, 0x30, 0x7F, 0x80, 0x84, 0xA0, 0xFF]))
        elif kind == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "delete":
            del data[position : position + draw(st.integers(1, 16))]
        elif kind == "truncate":
            del data[position:]
        else:
            data[position:position] = data[position : position + draw(st.integers(1, 64))]
    return bytes(data)


async def test_fuzz_mutated_messages_answer_cmp_messages_never_500(
    client: TestClient[Any, Any],
) -> None:
    """Mutations of valid ir/cr/certConf/kur messages, posted to the real handler: every
    answer is a DER PKIMessage with a 2xx/4xx status, never a 500 or a crash."""
    created = await app_runtime(client).services.ra.create_enrollment(HOLDER, actor="test")
    valid = _valid_messages(created.reference_number.encode(), created.authorization_code.encode())
    loop = asyncio.get_running_loop()

    @settings(
        max_examples=budget(150),
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(mutations(valid))
    def post_mutation(body: bytes) -> None:
        status, answer = asyncio.run_coroutine_threadsafe(post_cmp(client, body), loop).result()
        # 429: the per-address limit on wrong codes, which a campaign's thousands reach
        assert status in (200, 400, 413, 429), (status, answer)
        cmp_messages.decode(answer)

    await asyncio.to_thread(post_mutation)
