"""The one-time links' URL shape, built and parsed in one place. Pure.

A link is ``{public_url}/enroll/{token}`` (download) or ``{public_url}/renew/{token}`` (renewal),
and its JSON API is the same path under ``/api/v1``. ``public_url`` may carry a path prefix
(``https://host/certdesk``) when certdesk sits behind a proxy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args
from urllib.parse import urlsplit

LinkKind = Literal["enroll", "renew"]
LINK_KINDS: tuple[LinkKind, ...] = get_args(LinkKind)

FRIENDLY_NAME_HEADER = "Certdesk-Friendly-Name"
"""The API's response header with the certificate's friendly name, percent-encoded UTF-8."""


def link_url(public_url: str, kind: LinkKind, token: str) -> str:
    """``https://host/enroll/TOKEN``: what a holder opens."""
    return f"{public_url.rstrip('/')}/{kind}/{token}"


def api_url(public_url: str, kind: LinkKind, token: str) -> str:
    """``https://host/api/v1/enroll/TOKEN``: where the link's JSON API is."""
    return f"{public_url.rstrip('/')}/api/v1/{kind}/{token}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Link:
    """A parsed link: the public URL it was made under, its kind and its token."""

    public_url: str
    kind: LinkKind
    token: str

    @property
    def url(self) -> str:
        return link_url(self.public_url, self.kind, self.token)

    @property
    def api_url(self) -> str:
        return api_url(self.public_url, self.kind, self.token)


def parse_link(url: str) -> Link | None:
    """``https://host[/prefix]/enroll/{token}`` (or ``/renew/``) -> its parts; None if not a link.

    >>> parse_link("https://certdesk.example.com/ra/renew/Ab-9_x")
    Link(public_url='https://certdesk.example.com/ra', kind='renew', token='Ab-9_x')
    """
    parts = urlsplit(url.strip())
    segments = parts.path.rstrip("/").split("/")
    if parts.scheme not in ("http", "https") or not parts.netloc or len(segments) < 2:
        return None
    kind = next((k for k in LINK_KINDS if k == segments[-2]), None)
    token = segments[-1]
    if kind is None or not _is_token(token):
        return None
    prefix = "/".join(segments[:-2])
    return Link(public_url=f"{parts.scheme}://{parts.netloc}{prefix}", kind=kind, token=token)


def _is_token(text: str) -> bool:
    return bool(text) and all(c.isascii() and (c.isalnum() or c in "-_") for c in text)
