"""The one body reader: a body split by the network comes back whole; past the limit, refused.
Over a raw socket too: a body in two TCP writes with a pause between them is read whole."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp import StreamReader
from aiohttp.test_utils import TestClient

from enrollment.errors import RequestTooLarge
from enrollment.web.body import read_body
from tests.enrollment.conftest import HOLDER, app_runtime
from tests.support.pki import make_csr
from tests.support.rawhttp import halves, post_in_parts


class _Transport:
    """The flow control a StreamReader asks of its connection (nothing to do here)."""

    _reading_paused = False
    connected = True

    def pause_reading(self) -> None: ...

    def resume_reading(self, resume_parser: bool = True) -> None: ...


def _stream(*chunks: bytes, eof: bool = True) -> StreamReader:
    stream = StreamReader(
        _Transport(),  # type: ignore[arg-type]
        limit=2**16,
        loop=asyncio.get_running_loop(),
    )
    for chunk in chunks:
        stream.feed_data(chunk)
    if eof:
        stream.feed_eof()
    return stream


async def test_body_in_several_chunks_comes_back_whole() -> None:
    stream = _stream(b"abc", b"def", b"gh")
    assert await read_body(stream, limit=100) == b"abcdefgh"


async def test_chunks_arriving_later_are_waited_for() -> None:
    stream = _stream(b"first,", eof=False)

    async def rest() -> None:
        await asyncio.sleep(0)
        stream.feed_data(b"second,")
        await asyncio.sleep(0)
        stream.feed_data(b"third")
        stream.feed_eof()

    body, _ = await asyncio.gather(read_body(stream, limit=100), rest())
    assert body == b"first,second,third"


async def test_a_body_of_exactly_the_limit_is_read() -> None:
    assert await read_body(_stream(b"12345", b"67890"), limit=10) == b"1234567890"


async def test_one_byte_past_the_limit_is_refused() -> None:
    with pytest.raises(RequestTooLarge):
        await read_body(_stream(b"12345", b"67890", b"1"), limit=10)


async def test_a_declared_length_past_the_limit_is_refused_unread() -> None:
    with pytest.raises(RequestTooLarge):
        await read_body(_stream(b"", eof=False), limit=10, declared=11)


async def test_enrollment_json_split_over_the_network_is_issued(
    client: TestClient[Any, Any], tmp_path: Path
) -> None:
    """Finding 1: an enrollment body sent in two TCP writes 200 ms apart answers 201."""
    created = await app_runtime(client).services.ra.create_enrollment(HOLDER, actor="test")
    _, csr = make_csr(tmp_path)
    body = json.dumps(
        {
            "reference_number": created.reference_number,
            "authorization_code": created.authorization_code,
            "csr": csr,
            "delivery": "browser",
        }
    ).encode()
    status, answer = await post_in_parts(
        client.server.host,
        client.server.port,  # type: ignore[arg-type]
        f"/api/v1/enroll/{created.link.token}",
        halves(body),
        headers={"Content-Type": "application/json"},
    )
    assert status == 201, answer
    assert json.loads(answer)["certificate"].startswith("-----BEGIN CERTIFICATE-----")
