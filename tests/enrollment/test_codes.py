"""Reference numbers, authorization codes and keyed hashes."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from enrollment import codes


def test_authorization_code_has_60_bits_and_no_lookalikes() -> None:
    code = codes.new_authorization_code()
    raw = code.replace("-", "")
    assert len(raw) * math.log2(len(codes.CODE_ALPHABET)) >= 60
    assert not set(raw) & set("0O1IL")
    assert all(len(group) == 4 for group in code.split("-"))


def test_codes_are_random() -> None:
    assert len({codes.new_authorization_code() for _ in range(200)}) == 200
    assert len({codes.new_link_token() for _ in range(200)}) == 200


def test_reference_number_is_ten_digits() -> None:
    for _ in range(50):
        ref = codes.new_reference_number()
        assert ref.isdigit()
        assert len(ref) == 10
        assert ref[0] != "0"


def test_pepper_matches_code_typed_loosely() -> None:
    pepper = codes.Pepper(b"k" * 32)
    code = codes.new_authorization_code()
    stored = pepper.hash_code(code)
    assert pepper.code_matches(code.lower().replace("-", " "), stored)
    assert not pepper.code_matches(code[:-1] + ("2" if code[-1] != "2" else "3"), stored)
    assert code not in stored


def test_pepper_hash_depends_on_key_and_purpose() -> None:
    a, b = codes.Pepper(b"a" * 32), codes.Pepper(b"b" * 32)
    assert a.hash_token("t") != b.hash_token("t")
    assert a.hash_token("t") != a.digest("authorization-code", "t")
    assert "a" * 32 not in repr(a)


@given(st.text(max_size=40))
def test_normalize_code_keeps_only_upper_alnum(typed: str) -> None:
    normalized = codes.normalize_code(typed)
    assert normalized == normalized.upper()
    assert all(ch.isalnum() for ch in normalized)
