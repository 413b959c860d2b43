"""File names and formats of the PKCS#12 files (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from enrollment.ca.pkcs12 import ascii_filename, p12_filename, parse_format
from enrollment.errors import RequestInvalid


@pytest.mark.parametrize(
    ("friendly_name", "expected"),
    [
        ("张三 (1234567890)", "张三-1234567890.p12"),
        ("Test Holder 01 (1234567890)", "Test-Holder-01-1234567890.p12"),
        ("Zoë Ørsted", "Zoë-Ørsted.p12"),
        ("../../etc/passwd", "etc-passwd.p12"),
        ('a:b*c?"<>|\\', "a-b-c.p12"),
        ("", "certificate.p12"),
        (None, "certificate.p12"),
        ("...", "certificate.p12"),
    ],
)
def test_p12_filename_keeps_letters_of_any_script(friendly_name: str | None, expected: str) -> None:
    assert p12_filename(friendly_name) == expected


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("张三-1234567890.p12", "1234567890.p12"),
        ("张三.p12", "certificate.p12"),
        ("Zoë-Ørsted.p12", "Zo-rsted.p12"),
        ("Test-Holder-01.p12", "Test-Holder-01.p12"),
    ],
)
def test_ascii_filename_is_the_rfc6266_fallback(filename: str, expected: str) -> None:
    assert ascii_filename(filename) == expected


@settings(max_examples=200)
@given(st.text(max_size=300))
def test_p12_filename_is_always_a_plain_file_name(friendly_name: str) -> None:
    """Whatever the CN: one path component, no control or reserved characters, short."""
    name = p12_filename(friendly_name)
    assert name.endswith(".p12")
    assert len(name) <= 84
    assert not name.startswith((".", "-"))
    assert not set(name) & set('/\\:*?"<>|')
    assert all(ch.isprintable() and not ch.isspace() for ch in name)
    fallback = ascii_filename(name)
    assert fallback.isascii()
    assert fallback.endswith(".p12")


def test_parse_format_names_the_choices() -> None:
    assert parse_format("compatible") == "compatible"
    with pytest.raises(RequestInvalid, match="modern, compatible"):
        parse_format("legacy")
