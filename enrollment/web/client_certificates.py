"""The TLS client certificate of a request, for EST ``simplereenroll`` and ``POST /api/v1/renew``.

- Over certdesk's own TLS (``CERTDESK_TLS``): the certificate the client presented in the
  handshake, which the TLS layer has verified against certdesk's CA.
- Behind a TLS-terminating proxy: the header the operator named
  (:attr:`ClientCertificatePolicy.header`), believed only when the TCP peer is one of the
  proxies the operator named (:attr:`ClientCertificatePolicy.trusted_proxies`); from anyone
  else the header is ignored, as if absent. Nothing is believed by default. The value is the
  PEM certificate, URL-encoded (nginx's ``$ssl_client_escaped_cert``) or not, or base64 DER.

Either way the certificate only says who the client claims to be (a certificate is public):
the domain then checks it is exactly one certdesk issued, active and unexpired.
"""

from __future__ import annotations

import base64
import binascii
import logging
from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network, ip_address
from urllib.parse import unquote

from aiohttp import web
from cryptography import x509

from common.der import serial_not_positive
from enrollment.errors import ClientCertificateMalformed

log = logging.getLogger(__name__)

MAX_HEADER_CHARS = 16 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientCertificatePolicy:
    """Which proxies' client-certificate header certdesk believes (none by default)."""

    trusted_proxies: tuple[IPv4Network | IPv6Network, ...] = ()
    header: str | None = None


POLICY = web.AppKey("client_certificate_policy", ClientCertificatePolicy)


def client_certificate(request: web.Request) -> x509.Certificate | None:
    """The request's client certificate (TLS handshake, or a trusted proxy's header), or None."""
    transport = request.transport
    ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
    if ssl_object is not None:
        der = ssl_object.getpeercert(binary_form=True)
        if der:
            return x509.load_der_x509_certificate(der)
    policy = request.config_dict.get(POLICY)
    if policy is None or policy.header is None:
        return None
    value = request.headers.get(policy.header)
    if not value:
        return None
    peer = transport.get_extra_info("peername") if transport is not None else None
    address = peer[0] if isinstance(peer, tuple) and peer else None
    if not _trusted(address, policy.trusted_proxies):
        log.warning("client certificate header ignored: not from a trusted proxy")
        return None
    return certificate_from_header(value)


def _trusted(address: object, proxies: tuple[IPv4Network | IPv6Network, ...]) -> bool:
    if not isinstance(address, str):
        return False
    try:
        peer = ip_address(address)
    except ValueError:
        return False
    return any(peer in network for network in proxies)


def certificate_from_header(value: str) -> x509.Certificate:
    """The certificate in a proxy's header: (URL-encoded) PEM, or base64 DER."""
    if len(value) > MAX_HEADER_CHARS:
        raise _malformed()
    text = unquote(value).strip()
    try:
        if text.startswith("-----BEGIN CERTIFICATE-----"):
            # some proxies fold the PEM's newlines into spaces
            body = text.removeprefix("-----BEGIN CERTIFICATE-----")
            body = body.removesuffix("-----END CERTIFICATE-----")
            der = base64.b64decode("".join(body.split()), validate=True)
        else:
            der = base64.b64decode("".join(text.split()), validate=True)
        if not serial_not_positive(der):  # RFC 5280 forbids zero or less
            return x509.load_der_x509_certificate(der)
    except (binascii.Error, ValueError, x509.InvalidVersion):
        pass
    raise _malformed()


def _malformed() -> ClientCertificateMalformed:
    return ClientCertificateMalformed(
        "The client certificate forwarded by the proxy cannot be read. The operator must have "
        "the proxy send the verified certificate as URL-encoded PEM (nginx: "
        "$ssl_client_escaped_cert) in the header named by CERTDESK_CLIENT_CERT_HEADER."
    )
