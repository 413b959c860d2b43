"""HTTP over a raw socket, the way proxies, TLS and mobile networks deliver it: the head, then
the body in parts with a pause between them (each part its own TCP write)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence


async def post_in_parts(
    host: str,
    port: int,
    path: str,
    parts: Sequence[bytes],
    *,
    headers: Mapping[str, str],
    pause: float = 0.2,
) -> tuple[int, bytes]:
    """POST ``b"".join(parts)`` with its Content-Length, one part per write, ``pause`` seconds
    apart; the response's status and body (the connection closes after it)."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        body_length = sum(len(part) for part in parts)
        head = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}", "Connection: close"]
        head += [f"{name}: {value}" for name, value in headers.items()]
        head.append(f"Content-Length: {body_length}")
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode())
        await writer.drain()
        for index, part in enumerate(parts):
            if index:
                await asyncio.sleep(pause)
            writer.write(part)
            await writer.drain()
        async with asyncio.timeout(30):
            response = await reader.read()
    finally:
        writer.close()
        await writer.wait_closed()
    status_line, _, rest = response.partition(b"\r\n")
    _, _, body = rest.partition(b"\r\n\r\n")
    return int(status_line.split()[1]), body


def halves(body: bytes) -> tuple[bytes, bytes]:
    middle = len(body) // 2
    return body[:middle], body[middle:]
