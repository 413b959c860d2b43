"""The key pairs certdesk makes on a USB key, by name. Plain data: ``certdesk token --help``
lists them without loading the PKCS#11 library."""

from __future__ import annotations

from typing import Literal

TokenKeyType = Literal["ec-p256", "ec-p384", "rsa-2048", "rsa-3072", "rsa-4096"]
TOKEN_KEY_TYPES: tuple[TokenKeyType, ...] = ("ec-p256", "ec-p384", "rsa-2048", "rsa-3072")
