"""Finding system packages; a missing one skips, or fails when CI requires everything."""

from __future__ import annotations

import glob
import os
import shutil

import pytest

REQUIRE_VAR = "CERTDESK_REQUIRE_SYSTEM_PACKAGES"


def require_all() -> bool:
    return os.environ.get(REQUIRE_VAR, "") not in ("", "0", "false", "no")


def missing(what: str, package: str) -> None:
    """Skip (or, with CERTDESK_REQUIRE_SYSTEM_PACKAGES=1, fail) for a missing system package."""
    reason = f"missing system package: {package} ({what} not found)"
    if require_all():
        pytest.fail(f"{reason}; {REQUIRE_VAR} is set, so this is a failure", pytrace=False)
    pytest.skip(reason)


def binary(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        missing(name, package)
        raise AssertionError("unreachable")
    return path


def first_file(patterns: list[str], package: str) -> str:
    for pattern in patterns:
        found = sorted(glob.glob(pattern))
        if found:
            return found[-1]
    missing(" or ".join(patterns), package)
    raise AssertionError("unreachable")


def postgres_bin_dir() -> str:
    initdb = first_file(["/usr/lib/postgresql/*/bin/initdb"], "postgresql")
    return os.path.dirname(initdb)


def softhsm_module() -> str:
    return first_file(
        [
            "/usr/lib/softhsm/libsofthsm2.so",
            "/usr/lib/*/softhsm/libsofthsm2.so",
            "/usr/local/lib/softhsm/libsofthsm2.so",
        ],
        "softhsm2",
    )


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    missing("chromium", "chromium")
    raise AssertionError("unreachable")


def pkcs11_engine() -> str:
    """OpenSSL's pkcs11 engine (libp11), for TLS with a key on a token."""
    return first_file(
        ["/usr/lib/*/engines-3/pkcs11.so", "/usr/lib/engines-3/pkcs11.so"],
        "libengine-pkcs11-openssl",
    )


def nginx() -> str:
    for name in ("nginx", "/usr/sbin/nginx"):
        path = shutil.which(name)
        if path is not None:
            return path
    missing("nginx", "nginx")
    raise AssertionError("unreachable")
