"""Who may read the operator's endpoints (``/metrics``, the local outbox): a bearer token
compared in constant time, the peer's address in an allowed network, or the machine itself.

The peer is the socket's, never a forwarding header; a request that carries one came through
a proxy and so is not "the machine itself".
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from ipaddress import IPv4Network, IPv6Network, ip_address

from aiohttp import web
from pydantic import SecretStr

FORWARDING_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Real-IP")


def peer_address(request: web.Request) -> str | None:
    transport = request.transport
    peer = transport.get_extra_info("peername") if transport is not None else None
    if isinstance(peer, tuple) and peer and isinstance(peer[0], str):
        return peer[0]
    return None


def peer_in(request: web.Request, networks: Sequence[IPv4Network | IPv6Network]) -> bool:
    address = peer_address(request)
    if address is None:
        return False
    try:
        ip = ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in network for network in networks)


def is_local(request: web.Request) -> bool:
    """From this machine, not through a proxy."""
    if any(name in request.headers for name in FORWARDING_HEADERS):
        return False
    address = peer_address(request)
    if address is None:
        return False
    try:
        return ip_address(address.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def bearer_matches(request: web.Request, token: SecretStr | None) -> bool:
    if token is None:
        return False
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given:
        return False
    return hmac.compare_digest(given.strip().encode(), token.get_secret_value().encode())


def refused(*, code: str, message: str, status: int) -> web.Response:
    response = web.json_response({"error": {"code": code, "message": message}}, status=status)
    if status == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    response.headers["Cache-Control"] = "no-store"
    return response
