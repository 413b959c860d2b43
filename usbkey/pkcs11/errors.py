"""Errors of the USB-key (PKCS#11) client and the HSM-backed CA.

Each says what happened and what to do next; ``certdesk token`` prints the message and exits
non-zero. Their words are in the client's catalogue (``usbkey/messages.toml``, ``error.<code>``,
English and Chinese), filled from the values each error carries. They hang under certdesk's
one error root through :class:`TokenError`::

    CertdeskError (common.errors)
    └── TokenError
        ├── WrongModule              token_module_unusable  file missing / not a PKCS#11 library
        ├── NoToken                  token_absent           nothing plugged in (or not initialised)
        ├── TokenNotFound            token_not_found        no token with the --token-label
        ├── SeveralTokens            token_ambiguous        several tokens and no --token-label
        ├── PinIncorrect             pin_incorrect          CKR_PIN_INCORRECT
        ├── PinLocked                pin_locked             CKR_PIN_LOCKED
        ├── InputMissing             input_missing          PIN / code not given, no terminal
        ├── TokenOperationFailed     token_failed           any other PKCS#11 error, CKR name kept
        ├── NoCertificateToRenew     token_no_certificate   nothing on the token to renew
        ├── SeveralCertificates      token_several_certificates
        ├── LinkMalformed            link_malformed         not an …/enroll/{token} URL
        ├── ServerUnreachable        server_unreachable     no answer (the request may have worked)
        └── ServerRefused            (the server's code)    the API's error, shown verbatim
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from common.errors import CertdeskError
from usbkey.messages import ERRORS
from usbkey.pkcs11.models import TOKEN_MODELS


def _platform_column() -> str:
    if sys.platform.startswith("win"):
        return "windows"
    if sys.platform == "darwin":
        return "macos"
    return "linux"


def known_modules() -> str:
    """One line per known USB-key model and the module it needs on this operating system."""
    column = _platform_column()
    return "\n".join(f"  {model.name}: {getattr(model, column)}" for model in TOKEN_MODELS)


class TokenError(CertdeskError, code="token_error"):
    params: dict[str, object] = {}  # noqa: RUF012 (never mutated; instances assign their own)
    """The values the message names, for translating it (``usbkey/messages.py:ERRORS``)."""

    def __init__(self, message: str | None = None, **params: object) -> None:
        """``message`` as given, else the catalogue's English text for ``code`` with ``params``."""
        super().__init__(message if message is not None else ERRORS.text(self.code, "en", **params))
        self.params = params


class WrongModule(TokenError, code="token_module_unusable"):
    def __init__(self, module: str, reason: str) -> None:
        super().__init__(module=module, reason=reason, known=known_modules())
        self.module = module
        self.reason = reason


class NoToken(TokenError, code="token_absent"):
    def __init__(self, module: str) -> None:
        super().__init__(module=module, known=known_modules())


class TokenNotFound(TokenError, code="token_not_found"):
    def __init__(self, label: str, available: Sequence[str]) -> None:
        super().__init__(label=label, present=", ".join(repr(name) for name in available) or "none")


class SeveralTokens(TokenError, code="token_ambiguous"):
    def __init__(self, available: Sequence[str]) -> None:
        super().__init__(present=", ".join(repr(name) for name in available))


class PinIncorrect(TokenError, code="pin_incorrect"): ...


class PinLocked(TokenError, code="pin_locked"): ...


class InputMissing(TokenError, code="input_missing"):
    def __init__(self, what: str, option: str) -> None:
        super().__init__(what=what, option=option)


class TokenOperationFailed(TokenError, code="token_failed"):
    def __init__(self, action: str, error: BaseException) -> None:
        detail = f" ({error})" if str(error) else ""
        super().__init__(action=action, name=type(error).__name__, detail=detail)


class NoCertificateToRenew(TokenError, code="token_no_certificate"):
    def __init__(self, token_label: str, detail: str = "") -> None:
        super().__init__(token=token_label, detail=detail)


class SeveralCertificates(TokenError, code="token_several_certificates"):
    def __init__(self, labels: Sequence[str]) -> None:
        super().__init__(listed=", ".join(repr(label) for label in labels))


class LinkMalformed(TokenError, code="link_malformed"):
    def __init__(self, link: str) -> None:
        super().__init__(link=link)


class ServerUnreachable(TokenError, code="server_unreachable"):
    def __init__(self, url: str, reason: str, *, sent: bool = True) -> None:
        super().__init__(url=url, reason=reason)
        self.sent = sent  # False: the request cannot have reached the server
        self.pending_key_id: str | None = None  # a key pair kept in case it was certified


class ServerRefused(TokenError):
    """The API's ``{"error": {"code", "message"}}``: its message is shown as the server wrote it."""

    def __init__(self, *, code: str, message: str, status: int) -> None:
        CertdeskError.__init__(self, message, code=code, status=status)
