"""Errors of the USB-key (PKCS#11) client and the HSM-backed CA, with their messages.

Each says what happened and what to do next; ``certdesk token`` prints the message and exits
non-zero. They hang under certdesk's one error root through :class:`TokenError`::

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


class TokenError(CertdeskError):
    code = "token_error"
    params: dict[str, object] = {}  # noqa: RUF012 (never mutated; instances assign their own)
    """The values the message names, for translating it (``usbkey/messages.py:ERRORS``)."""


class WrongModule(TokenError):
    code = "token_module_unusable"

    def __init__(self, module: str, reason: str) -> None:
        super().__init__(
            f"{module} cannot be used as a PKCS#11 module: {reason}. Pass the module that "
            "belongs to your USB key's model with --module (installing the vendor's driver "
            "puts it on disk); choosing another model's module is the most common mistake. "
            f"Known models and their modules:\n{known_modules()}"
        )
        self.module = module
        self.reason = reason
        self.params = {"module": module, "reason": reason, "known": known_modules()}


class NoToken(TokenError):
    code = "token_absent"

    def __init__(self, module: str) -> None:
        super().__init__(
            f"No initialised USB key was found through {module}. Plug the key in (and wait a "
            "moment), check that --module is the module for this key's model, and try again. "
            f"Known models and their modules:\n{known_modules()}"
        )
        self.params = {"module": module, "known": known_modules()}


class TokenNotFound(TokenError):
    code = "token_not_found"

    def __init__(self, label: str, available: Sequence[str]) -> None:
        present = ", ".join(repr(name) for name in available) or "none"
        super().__init__(
            f"No USB key has the label {label!r}. Keys present: {present}. "
            "Check the spelling, or run `certdesk token list --module …`."
        )
        self.params = {"label": label, "present": present}


class SeveralTokens(TokenError):
    code = "token_ambiguous"

    def __init__(self, available: Sequence[str]) -> None:
        present = ", ".join(repr(name) for name in available)
        super().__init__(
            f"Several USB keys are plugged in ({present}). Choose one with --token-label, "
            "or unplug the others."
        )
        self.params = {"present": present}


class PinIncorrect(TokenError):
    code = "pin_incorrect"
    message = (
        "The USB key's PIN is wrong. Nothing was changed on the key. Check Caps Lock and "
        "the keyboard layout before you try again: the key locks itself after a few wrong "
        "PINs."
    )


class PinLocked(TokenError):
    code = "pin_locked"
    message = (
        "The USB key's PIN is locked after too many wrong tries. Only the key's "
        "administrator (with the SO PIN) can unlock or reset it: ask your IT or RA staff. "
        "Nothing was changed on the key, and your link still works."
    )


class InputMissing(TokenError):
    code = "input_missing"

    def __init__(self, what: str, option: str) -> None:
        super().__init__(
            f"No {what} was given and there is no terminal to ask on. Pass it with {option}, "
            "or run the command in a terminal so it can ask."
        )
        self.params = {"what": what, "option": option}


class TokenOperationFailed(TokenError):
    code = "token_failed"

    def __init__(self, action: str, error: BaseException) -> None:
        name = type(error).__name__
        detail = f" ({error})" if str(error) else ""
        super().__init__(
            f"The USB key refused to {action}: {name}{detail}. Check that the key is still "
            "plugged in and that --module belongs to its model; if it keeps failing, send "
            "this message to RA staff."
        )
        self.params = {"action": action, "name": name, "detail": detail}


class NoCertificateToRenew(TokenError):
    code = "token_no_certificate"

    def __init__(self, token_label: str, detail: str = "") -> None:
        super().__init__(
            f"The USB key {token_label!r} holds no valid certificate with its private key"
            f"{detail}, so there is nothing to renew in place. An expired certificate cannot "
            'be renewed this way: ask the certdesk bot in Slack ("Renew") or RA staff.'
        )
        self.params = {"token": token_label, "detail": detail}


class SeveralCertificates(TokenError):
    code = "token_several_certificates"

    def __init__(self, labels: Sequence[str]) -> None:
        listed = ", ".join(repr(label) for label in labels)
        super().__init__(
            f"The USB key holds several renewable certificates ({listed}). Choose one with --label."
        )
        self.params = {"listed": listed}


class LinkMalformed(TokenError):
    code = "link_malformed"

    def __init__(self, link: str) -> None:
        super().__init__(
            f"{link!r} is not a certdesk download link. Copy the whole link from your message; "
            "it looks like https://certdesk.example.com/enroll/…"
        )
        self.params = {"link": link}


class ServerUnreachable(TokenError):
    code = "server_unreachable"

    def __init__(self, url: str, reason: str, *, sent: bool = True) -> None:
        super().__init__(f"certdesk at {url} did not answer: {reason}.")
        self.sent = sent  # False: the request cannot have reached the server
        self.pending_key_id: str | None = None  # a key pair kept in case it was certified
        self.params = {"url": url, "reason": reason}


class ServerRefused(TokenError):
    """The API's ``{"error": {"code", "message"}}``: its message is shown as the server wrote it."""

    def __init__(self, *, code: str, message: str, status: int) -> None:
        super().__init__(message, code=code, status=status)
