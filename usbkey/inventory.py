"""Which certificate on a USB key is current, which are superseded or expired. Pure.

A holder's certificate and its key pair share one CKA_ID; that identifier, never the label,
names a pair. Renewal replaces in place, so a token normally holds one pair per holder; a pair
kept with ``--keep-old`` carries :func:`superseded_label`. Tokens written before in-place renewal
can hold several pairs for one holder under one label: of those with the same issuer and
subject, the one that starts last is current and the others are superseded.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from cryptography import x509

State = Literal["current", "superseded", "expired", "authority"]

_SUPERSEDED = re.compile(r" \(superseded [0-9a-f]+\)$")


class OnToken(Protocol):
    @property
    def label(self) -> str: ...
    @property
    def id(self) -> bytes: ...
    @property
    def certificate(self) -> x509.Certificate: ...
    @property
    def is_ca(self) -> bool: ...


def superseded_label(label: str, serial: str) -> str:
    """The label a pair kept with ``--keep-old`` gets: distinct from the current pair's."""
    return f"{_SUPERSEDED.sub('', label)} (superseded {serial})"


@dataclass(frozen=True, slots=True)
class Classified:
    item: OnToken
    state: State


def classify(found: Iterable[OnToken], now: datetime) -> list[Classified]:
    """Each certificate with its state, in the order given."""
    items = list(found)
    newest: dict[tuple[bytes, bytes], datetime] = {}
    for item in items:
        if _holder_candidate(item, now):
            key = _holder(item.certificate)
            start = item.certificate.not_valid_before_utc
            newest[key] = max(start, newest.get(key, start))
    result = []
    for item in items:
        state: State
        if item.is_ca:
            state = "authority"
        elif item.certificate.not_valid_after_utc <= now:
            state = "expired"
        elif not _holder_candidate(item, now) or (
            item.certificate.not_valid_before_utc < newest[_holder(item.certificate)]
        ):
            state = "superseded"
        else:
            state = "current"
        result.append(Classified(item=item, state=state))
    return result


def removable(classified: Sequence[Classified]) -> list[OnToken]:
    """The expired and superseded holder pairs whose CKA_ID no current certificate shares."""
    keep = {c.item.id for c in classified if c.state in ("current", "authority")}
    return [
        c.item
        for c in classified
        if c.state in ("expired", "superseded") and c.item.id and c.item.id not in keep
    ]


def _holder_candidate(item: OnToken, now: datetime) -> bool:
    return (
        not item.is_ca
        and item.certificate.not_valid_after_utc > now
        and not _SUPERSEDED.search(item.label)
    )


def _holder(certificate: x509.Certificate) -> tuple[bytes, bytes]:
    return certificate.issuer.public_bytes(), certificate.subject.public_bytes()
