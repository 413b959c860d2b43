"""USB key (PKCS#11 token) models and the module each needs: the old guide's "choose the CSP".

Choosing another model's module is the most common mistake, so the page shows this table and
its script puts the chosen module into the ``certdesk token enroll`` command it displays.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenModel:
    id: str
    name: str
    driver: str
    linux: str
    windows: str
    macos: str


TOKEN_MODELS: tuple[TokenModel, ...] = (
    TokenModel(
        id="safenet",
        name="SafeNet / Thales eToken 5110, 5300",
        driver="SafeNet Authentication Client",
        linux="/usr/lib/libeTPkcs11.so",
        windows=r"C:\Windows\System32\eTPKCS11.dll",
        macos="/usr/local/lib/libeTPkcs11.dylib",
    ),
    TokenModel(
        id="yubikey",
        name="YubiKey 5 series (PIV)",
        driver="Yubico PIV Tool (YKCS11)",
        linux="/usr/lib/x86_64-linux-gnu/libykcs11.so",
        windows=r"C:\Program Files\Yubico\Yubico PIV Tool\bin\libykcs11.dll",
        macos="/usr/local/lib/libykcs11.dylib",
    ),
    TokenModel(
        id="opensc",
        name="Smart cards and keys supported by OpenSC (Feitian ePass2003, PIV cards …)",
        driver="OpenSC",
        linux="/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so",
        windows=r"C:\Windows\System32\opensc-pkcs11.dll",
        macos="/Library/OpenSC/lib/opensc-pkcs11.so",
    ),
    TokenModel(
        id="softhsm",
        name="SoftHSM (software token, for testing)",
        driver="SoftHSM 2",
        linux="/usr/lib/softhsm/libsofthsm2.so",
        windows=r"C:\SoftHSM2\lib\softhsm2-x64.dll",
        macos="/usr/local/lib/softhsm/libsofthsm2.so",
    ),
)
