"""The little DER certdesk reads itself, before cryptography reads bytes from outside.

cryptography still loads a certificate whose serial number is zero or negative, which RFC 5280
(4.1.2.2) forbids, with a deprecation warning, and is to refuse it in a future release. certdesk
refuses it now, by name, so that a holder's upload, a CMP message or a proxy's header gets the
same clear answer today as later. Standard library only: the holder's client ships this room.
"""

from __future__ import annotations

import base64
import binascii
import re

_SEQUENCE, _INTEGER, _CONTEXT_0 = 0x30, 0x02, 0xA0
_PEM_BLOCK = re.compile(  # the labels cryptography reads: certificates, then PKCS#7
    rb"-----BEGIN ((?:X509 )?CERTIFICATE|PKCS7|PKCS #7 SIGNED DATA|CMS)-----"
    rb"([A-Za-z0-9+/=\s]*)-----END \1-----"
)


def der_items(data: bytes, start: int, end: int) -> list[tuple[int, int, int]]:
    """(tag, content start, content end) of the DER items in ``data[start:end]``; [] when the
    bytes are not DER."""
    items: list[tuple[int, int, int]] = []
    at = start
    while at < end:
        if at + 2 > end:
            return []
        tag, length, at = data[at], data[at + 1], at + 2
        if length & 0x80:
            octets = length & 0x7F
            if octets == 0 or octets > 4 or at + octets > end:
                return []
            length, at = int.from_bytes(data[at : at + octets], "big"), at + octets
        if at + length > end:
            return []
        items.append((tag, at, at + length))
        at += length
    return items


def serial_not_positive(der: bytes) -> bool:
    """Whether ``der``, an X.509 certificate, has a serial number of zero or less. Bytes of
    another shape (a CSR, a CRL, damage) give False: cryptography then says what they are."""
    outer = der_items(der, 0, len(der))
    return len(outer) == 1 and _serial_not_positive(der, *outer[0])


def pkcs7_serial_not_positive(der: bytes) -> bool:
    """:func:`serial_not_positive` of any certificate in a PKCS#7 SignedData (``.p7b``, DER):
    ContentInfo, its [0] content, then the SignedData's [0] certificates."""
    outer = der_items(der, 0, len(der))
    if len(outer) != 1 or outer[0][0] != _SEQUENCE:
        return False
    content_info = der_items(der, outer[0][1], outer[0][2])
    if len(content_info) != 2 or content_info[1][0] != _CONTEXT_0:
        return False
    signed_data = der_items(der, content_info[1][1], content_info[1][2])
    if len(signed_data) != 1 or signed_data[0][0] != _SEQUENCE:
        return False
    for tag, start, end in der_items(der, signed_data[0][1], signed_data[0][2]):
        if tag == _CONTEXT_0:
            return any(_serial_not_positive(der, *item) for item in der_items(der, start, end))
    return False


def pem_serial_not_positive(data: bytes) -> bool:
    """:func:`serial_not_positive` of any certificate block in PEM ``data``, and
    :func:`pkcs7_serial_not_positive` of any PKCS#7 block."""
    for block in _PEM_BLOCK.finditer(data):
        try:
            der = base64.b64decode(b"".join(block[2].split()), validate=True)
        except (binascii.Error, ValueError):
            continue  # cryptography refuses the block by itself
        certificate = block[1].endswith(b"CERTIFICATE")
        if (serial_not_positive if certificate else pkcs7_serial_not_positive)(der):
            return True
    return False


def _serial_not_positive(der: bytes, tag: int, start: int, end: int) -> bool:
    """:func:`serial_not_positive` of the item ``tag`` whose content is ``der[start:end]``."""
    if tag != _SEQUENCE:
        return False
    tbs = der_items(der, start, end)
    if not tbs or tbs[0][0] != _SEQUENCE:
        return False
    fields = der_items(der, tbs[0][1], tbs[0][2])
    if fields and fields[0][0] == _CONTEXT_0:  # the version
        fields = fields[1:]
    # serialNumber, then signature, issuer, validity, subject and subjectPublicKeyInfo
    shape = [kind for kind, _, _ in fields[:6]]
    if shape != [_INTEGER] + [_SEQUENCE] * 5 or fields[0][1] == fields[0][2]:
        return False
    _, start, end = fields[0]
    return bool(der[start] & 0x80) or not any(der[start:end])
