"""The one-time links' URL shape: built and parsed by one module (pure)."""

from __future__ import annotations

import pytest

from common.links import LINK_KINDS, Link, LinkKind, api_url, link_url, parse_link
from usbkey.client import parse_link as parse_token_link
from usbkey.pkcs11.errors import LinkMalformed


def test_link_url_and_api_url_share_one_shape() -> None:
    assert link_url("https://ra.example.com", "enroll", "Ab-9_x") == (
        "https://ra.example.com/enroll/Ab-9_x"
    )
    assert link_url("https://ra.example.com/desk/", "renew", "t") == (
        "https://ra.example.com/desk/renew/t"
    )
    assert api_url("http://127.0.0.1:8080", "enroll", "t") == (
        "http://127.0.0.1:8080/api/v1/enroll/t"
    )


@pytest.mark.parametrize("kind", LINK_KINDS)
@pytest.mark.parametrize("public_url", ["https://ra.example.com", "http://h:8080/a/b"])
def test_parse_link_reads_back_what_link_url_built(kind: LinkKind, public_url: str) -> None:
    url = link_url(public_url, kind, "Zx_-09")
    parsed = parse_link(url)
    assert parsed == Link(public_url=public_url, kind=kind, token="Zx_-09")
    assert parsed.url == url
    assert parsed.api_url == f"{public_url}/api/v1/{kind}/Zx_-09"


@pytest.mark.parametrize(
    "url",
    [
        "ftp://ra.example.com/enroll/abc",
        "https:///enroll/abc",
        "https://ra.example.com/download/abc",
        "https://ra.example.com/enroll/",
        "https://ra.example.com/enroll/a%20b",
        "https://ra.example.com/enroll/证书",
        "abc",
    ],
)
def test_parse_link_refuses_what_is_not_a_link(url: str) -> None:
    assert parse_link(url) is None


def test_usb_key_client_takes_only_download_links() -> None:
    link = parse_token_link(" https://ra.example.com/enroll/abc/ ")
    assert link.api_url == "https://ra.example.com/api/v1/enroll/abc"
    with pytest.raises(LinkMalformed):
        parse_token_link("https://ra.example.com/renew/abc")
