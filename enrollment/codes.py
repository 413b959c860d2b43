"""Reference numbers, authorization codes, link tokens and their keyed hashes.

Secrets (authorization codes, verification codes, link tokens) are stored only as
HMAC-SHA256 under a server pepper and compared in constant time. Nothing here does I/O.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

# No 0/O, 1/I/L: nothing a person can misread when copying a code from a message.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 16  # 16 * log2(31) = 79 bits
CODE_GROUP = 4
REFERENCE_DIGITS = 10
TOKEN_BYTES = 32
CODE_SALT_BYTES = 16


def new_reference_number() -> str:
    """A random 10-digit reference number (not a secret: it names the enrollment)."""
    first = secrets.choice("123456789")
    return first + "".join(secrets.choice("0123456789") for _ in range(REFERENCE_DIGITS - 1))


def new_authorization_code() -> str:
    """A random code of 79 bits, shown in groups: ``K7QX-3MZP-9HTD-WC4R``."""
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    return format_code(raw)


def format_code(raw: str) -> str:
    return "-".join(raw[i : i + CODE_GROUP] for i in range(0, len(raw), CODE_GROUP))


def normalize_code(typed: str) -> str:
    """What the user typed, without separators or case: ``k7qx 3mzp-…`` -> ``K7QX3MZP…``."""
    return "".join(ch for ch in typed.upper() if ch.isalnum())


def normalize_reference(typed: str) -> str:
    return "".join(ch for ch in typed if ch.isdigit())


def new_link_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def new_code_salt() -> str:
    """Per-enrollment random data from which the pepper derives the authorization code."""
    return secrets.token_hex(CODE_SALT_BYTES)


@dataclass(frozen=True, slots=True)
class Pepper:
    """The server key that turns secrets into keyed hashes. Its repr never shows the key."""

    key: bytes

    def __post_init__(self) -> None:
        if len(self.key) < 32:
            raise ValueError("the pepper must be at least 32 bytes")

    def __repr__(self) -> str:
        return "Pepper(<hidden>)"

    def digest(self, purpose: str, value: str) -> str:
        return hmac.new(self.key, f"{purpose}\x00{value}".encode(), hashlib.sha256).hexdigest()

    def hash_code(self, code: str) -> str:
        return self.digest("authorization-code", normalize_code(code))

    def hash_token(self, token: str) -> str:
        return self.digest("link-token", token)

    def code_matches(self, typed: str, stored_hash: str) -> bool:
        return hmac.compare_digest(self.hash_code(typed), stored_hash)

    def derive_code(self, reference_number: str, salt: str) -> str:
        """The authorization code of an enrollment: HMAC(pepper, reference, salt) in the code
        alphabet. The server can recompute it (CMP's MAC needs the code itself); without the
        pepper, the stored salt says nothing about it. See enrollment/README.md."""
        digest = hmac.new(
            self.key,
            f"authorization-code-derivation\x00{reference_number}\x00{salt}".encode(),
            hashlib.sha256,
        ).digest()
        number = int.from_bytes(digest, "big")  # 256 bits: the modulo bias is below 2**-170
        chars = []
        for _ in range(CODE_LENGTH):
            number, index = divmod(number, len(CODE_ALPHABET))
            chars.append(CODE_ALPHABET[index])
        return format_code("".join(chars))
