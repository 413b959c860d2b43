"""The one body reader: a request (or response) body read whole, up to a limit.

``StreamReader.read(n)`` returns what has arrived so far, which may be a fraction of the body;
this reads until the end of the stream or one byte past the limit, whatever the network splits
the body into.
"""

from __future__ import annotations

from aiohttp import StreamReader, web

from enrollment.errors import RequestTooLarge


def too_large(limit: int) -> RequestTooLarge:
    return RequestTooLarge(f"The request body is over {limit // 1024} KiB.")


async def read_body(stream: StreamReader, *, limit: int, declared: int | None = None) -> bytes:
    """The whole body; :class:`RequestTooLarge` when it is over ``limit`` bytes (refused at once
    when ``declared``, the Content-Length, already says so)."""
    if declared is not None and declared > limit:
        raise too_large(limit)
    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        chunk = await stream.read(limit + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    if size > limit:
        raise too_large(limit)
    return b"".join(chunks)


async def read_request(request: web.Request, *, limit: int) -> bytes:
    """A request's whole body, up to ``limit`` bytes (its Content-Length checked first)."""
    return await read_body(request.content, limit=limit, declared=request.content_length)
