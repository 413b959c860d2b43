"""Fuzzing the JSON API (hypothesis, bounded) against the real aiohttp application: whatever the
body of enroll, pkcs12, renew and renew-challenge, only the expected success or a defined 4xx
JSON error comes out, never a 500 (aiohttp's answer to an uncaught exception)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.enrollment.conftest import HOLDER, app_runtime
from tests.fuzz.mutations import budget
from tests.support.pki import make_csr

Client = TestClient[Any, Any]

FUZZ = settings(
    max_examples=budget(150),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)

FIELDS = (
    "reference_number",
    "authorization_code",
    "csr",
    "delivery",
    "password",
    "key_type",
    "serial",
    "verification_code",
    "certificate",
    "challenge",
    "signature",
)
PATHS = (
    "/api/v1/enroll/{token}",
    "/api/v1/enroll/{token}/pkcs12",
    "/api/v1/renew/{token}",
    "/api/v1/renew/{token}/pkcs12",
    "/api/v1/renew-challenge",
    "/api/v1/renew",
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children),
    max_leaves=12,
)


def known_values(samples: dict[str, list[str]]) -> st.SearchStrategy[Any]:
    """For each field, a real value (a code, a CSR, a certificate), a near miss, or anything."""

    def field_value(name: str) -> st.SearchStrategy[Any]:
        real = st.sampled_from(samples.get(name) or [""])
        near = real.map(lambda v: v[: len(v) // 2] + "\x00\u202e" + v[len(v) // 2 :])
        return real | near | json_values

    return st.fixed_dictionaries(
        {}, optional={name: field_value(name) for name in FIELDS}
    ) | st.dictionaries(st.text(max_size=20), json_values, max_size=5)


def bodies(samples: dict[str, list[str]]) -> st.SearchStrategy[bytes]:
    as_json = (known_values(samples) | json_values).map(lambda v: json.dumps(v).encode())
    deep = st.tuples(st.integers(900, 30_000), st.sampled_from([b"[]", b"{}"])).map(
        lambda nb: (b'{"a":' if nb[1] == b"{}" else b"[") * nb[0]
    )
    return as_json | st.binary(max_size=300) | as_json.map(lambda b: b[: len(b) // 2]) | deep


async def assert_defined_answer(client: Client, path: str, body: bytes, content_type: str) -> None:
    response = await client.post(path, data=body, headers={"Content-Type": content_type})
    text = await response.read()
    assert response.status < 500, (path, body[:200], text[:300])
    assert b"Traceback" not in text
    if response.status >= 400:
        error = json.loads(text)["error"]
        assert isinstance(error["code"], str)
        assert isinstance(error["message"], str)
        assert error["message"]


_SAMPLES: dict[int, tuple[str, dict[str, list[str]]]] = {}


async def samples_of(client: Client, tmp_path: Path) -> tuple[str, dict[str, list[str]]]:
    """One real enrollment (its token, codes and a CSR) per application, made once."""
    if id(client) not in _SAMPLES:
        _SAMPLES.clear()
        created = await app_runtime(client).services.ra.create_enrollment(HOLDER, actor="test")
        _, csr = make_csr(tmp_path)
        _SAMPLES[id(client)] = (
            created.link.token,
            {
                "reference_number": [created.reference_number],
                "authorization_code": [created.authorization_code],
                "csr": [csr],
                "delivery": ["browser", "csr", "usb-key", "pkcs12"],
                "key_type": ["ec-p256", "rsa-2048", "rsa-3072"],
                "password": ["correct horse battery"],
                "certificate": ["-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"],
            },
        )
    return _SAMPLES[id(client)]


TOKENS = st.sampled_from(["x", "%00", "a" * 300]) | st.text(
    st.characters(codec="ascii", categories=("L", "N")), min_size=1, max_size=40
)


@FUZZ
@given(data=st.data())
async def test_fuzzed_api_bodies_get_a_defined_answer(
    client: Client, tmp_path: Path, data: st.DataObject
) -> None:
    token, samples = await samples_of(client, tmp_path)
    path = data.draw(st.sampled_from(PATHS), label="path")
    token = data.draw(st.just(token) | TOKENS, label="token")
    body = data.draw(bodies(samples), label="body")
    content_type = data.draw(
        st.sampled_from(["application/json", "text/plain", "application/x-www-form-urlencoded"]),
        label="content_type",
    )
    await assert_defined_answer(client, path.format(token=token), body, content_type)
