"""The USB-key client's command line: one parser and one implementation for both programs.

``certdesk token ACTION`` (``bot/commands/token.py`` registers :func:`add_actions` and calls
:func:`dispatch`) and the holder's own ``certdesk-usbkey ACTION`` (:func:`main`, the console
script of the ``certdesk-usbkey`` distribution) have the same actions and options: enroll,
renew, list, clean. Importing this module costs argparse only; each action imports the PKCS#11
client when it runs.

The environment enters once, here: :func:`main` hands ``os.environ`` to :func:`dispatch`, which
reads only the variables the holder names (``--pin-env``, ``--authorization-code-env``) and the
locale. Each class of error has its own exit status (:data:`EXIT_STATUSES`).
"""

from __future__ import annotations

import argparse
import getpass
import locale
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, TypeAlias

from common.language import LANGUAGES, Lang, locale_language, translate
from usbkey.messages import ERRORS, TEXTS
from usbkey.pkcs11.key_types import TOKEN_KEY_TYPES

if TYPE_CHECKING:
    import pkcs11

    from common.errors import CertdeskError
    from usbkey.client import Step, StoredCertificate
    from usbkey.pkcs11.session import CertificateOnToken
    from usbkey.revocation import Revocation

SubParsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_MODULE = 3
EXIT_TOKEN = 4
EXIT_PIN_INCORRECT = 5
EXIT_PIN_LOCKED = 6
EXIT_REFUSED = 7
EXIT_NETWORK = 8

EXIT_STATUSES = """exit status:
  0  done
  1  the USB key refused an operation, or holds nothing to renew (the message says why)
  2  usage: bad arguments, not a certdesk link, a PIN, code or confirmation not given
  3  the PKCS#11 module cannot be loaded (wrong --module path, or not a PKCS#11 library)
  4  no USB key found, several and no --token-label, or none with that label
  5  the PIN is incorrect (nothing was changed on the key)
  6  the PIN is locked (nothing was changed on the key)
  7  the server refused the request (a key pair made for it is deleted again)
  8  network: certdesk did not answer"""


def add_actions(actions: SubParsers) -> None:
    """enroll, renew, list and clean, with their options, under ``actions``."""
    enroll = _action(
        actions, "enroll", "download a certificate onto a USB key (key pair made on the key)"
    )
    enroll.add_argument("link", metavar="LINK", help="the one-time link …/enroll/TOKEN")
    _token_options(enroll, key_type_default="ec-p256")
    enroll.add_argument(
        "--reference-number", metavar="N", help="the reference number (default: ask)"
    )
    enroll.add_argument(
        "--authorization-code-env",
        metavar="VAR",
        help="environment variable holding the authorization code (default: ask)",
    )

    renew = _action(
        actions, "renew", "renew the certificate on a USB key in place (new key pair on the key)"
    )
    _token_options(renew, key_type_default="as before")
    renew.add_argument(
        "--label", metavar="L", help="which certificate, when the key holds several current ones"
    )
    renew.add_argument(
        "--server",
        metavar="URL",
        help="certdesk's URL (default: from the certificate's CRL distribution point)",
    )
    renew.add_argument(
        "--keep-old",
        action="store_true",
        help="keep the old certificate and key on the USB key, under a distinct label",
    )

    listing = _action(
        actions, "list", "USB keys, their certificates, which one is current and whether revoked"
    )
    listing.add_argument("--module", required=True, metavar="SO", help="the PKCS#11 module")
    listing.add_argument(
        "--offline",
        action="store_true",
        help="do not ask the CA's OCSP responder whether the current certificates are revoked",
    )

    clean = _action(actions, "clean", "remove expired or superseded key pairs from a USB key")
    _token_options(clean, key_type_default=None)
    clean.add_argument("--yes", action="store_true", help="delete without asking to confirm")


def _action(actions: SubParsers, name: str, help: str) -> argparse.ArgumentParser:
    parser = actions.add_parser(
        name,
        help=help,
        description=help,
        epilog=EXIT_STATUSES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--lang", choices=LANGUAGES, help="language of the messages (default: the system's)"
    )
    parser.add_argument("--quiet", action="store_true", help="print no progress steps")
    return parser


def _token_options(parser: argparse.ArgumentParser, *, key_type_default: str | None) -> None:
    parser.add_argument(
        "--module", required=True, metavar="SO", help="the PKCS#11 module of the key's model"
    )
    parser.add_argument("--token-label", metavar="L", help="which key, when several are plugged in")
    parser.add_argument(
        "--pin-env", metavar="VAR", help="environment variable holding the PIN (default: ask)"
    )
    if key_type_default is not None:
        parser.add_argument(
            "--key-type",
            choices=TOKEN_KEY_TYPES,
            default=None,
            help=f"the new key pair's type (default: {key_type_default})",
        )


# -- running -----------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """The ``certdesk-usbkey`` console script."""
    parser = argparse.ArgumentParser(
        prog="certdesk-usbkey",
        description="certdesk's USB-key client: put a certificate on your USB key, renew it, "
        "list and clean what is on the key.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    add_actions(parser.add_subparsers(dest="token_command", required=True, metavar="ACTION"))
    args = parser.parse_args(argv)
    return dispatch(args, os.environ, prog="certdesk-usbkey")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    for distribution in ("certdesk-usbkey", "certdesk"):
        try:
            return version(distribution)
        except PackageNotFoundError:
            continue
    return "unknown"


def system_language(environ: Mapping[str, str]) -> Lang:
    """The language of the POSIX locale variables, else of the system's locale (Windows)."""
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        if environ.get(name):
            return locale_language(environ[name])
    system = (locale.getlocale()[0] or "").lower()
    return "zh" if system.startswith("chinese") else locale_language(system)


class Console:
    """Where the client speaks: results on stdout, progress, prompts and errors on stderr."""

    def __init__(self, *, lang: Lang, quiet: bool, prog: str, environ: Mapping[str, str]) -> None:
        self.lang = lang
        self.quiet = quiet
        self.prog = prog
        self.environ = environ

    def text(self, key: str, **params: object) -> str:
        return translate(TEXTS, key, self.lang, **params)

    def say(self, key: str, **params: object) -> None:
        print(self.text(key, **params))

    def step(self, step: Step) -> None:
        if not self.quiet:
            print(self.text(f"step.{step}"), file=sys.stderr, flush=True)

    def secret(self, env_var: str | None, prompt: str, what: str, option: str) -> str:
        """The value of the named environment variable, else asked on the terminal."""
        from usbkey.pkcs11.errors import InputMissing

        if env_var:
            value = self.environ.get(env_var)
            if not value:
                raise InputMissing(self.text("env.empty", what=what, var=env_var), option)
            return value
        if not sys.stdin.isatty():
            raise InputMissing(what, option)
        return getpass.getpass(prompt)

    def ask(self, prompt: str, what: str, option: str) -> str:
        from usbkey.pkcs11.errors import InputMissing

        if not sys.stdin.isatty():
            raise InputMissing(what, option)
        return input(prompt).strip()

    def fail(self, exc: CertdeskError) -> int:
        from usbkey.pkcs11.errors import ServerRefused

        if isinstance(exc, ServerRefused):
            message = self.text("refused", code=exc.code, message=exc.message)
        else:
            message = self.error_message(exc)
        print(self.text("failed", prog=self.prog, message=message), file=sys.stderr)
        return exit_status(exc)

    def error_message(self, exc: CertdeskError) -> str:
        from usbkey.pkcs11.errors import ServerUnreachable, TokenError

        if self.lang == "en" or exc.code not in ERRORS or not isinstance(exc, TokenError):
            return exc.message
        message = translate(ERRORS, exc.code, self.lang, **exc.params)
        if isinstance(exc, ServerUnreachable) and exc.pending_key_id:
            from usbkey.pkcs11.session import PENDING_LABEL

            pending = "server_unreachable.pending"
            message += translate(
                ERRORS, pending, self.lang, label=PENDING_LABEL, key_id=exc.pending_key_id
            )
        return message


def exit_status(exc: CertdeskError) -> int:
    """The exit status of the class of ``exc`` (:data:`EXIT_STATUSES`)."""
    from usbkey.pkcs11 import errors

    statuses: tuple[tuple[tuple[type[CertdeskError], ...], int], ...] = (
        ((errors.WrongModule,), EXIT_MODULE),
        ((errors.NoToken, errors.TokenNotFound, errors.SeveralTokens), EXIT_TOKEN),
        ((errors.PinIncorrect,), EXIT_PIN_INCORRECT),
        ((errors.PinLocked,), EXIT_PIN_LOCKED),
        ((errors.ServerRefused,), EXIT_REFUSED),
        ((errors.ServerUnreachable,), EXIT_NETWORK),
        ((errors.InputMissing, errors.LinkMalformed), EXIT_USAGE),
    )
    for kind, status in statuses:
        if isinstance(exc, kind):
            return status
    return EXIT_FAILED


def dispatch(args: argparse.Namespace, environ: Mapping[str, str], *, prog: str) -> int:
    """Run the parsed action; print its result or the error; return the exit status."""
    from common.errors import CertdeskError

    console = Console(
        lang=args.lang or system_language(environ), quiet=args.quiet, prog=prog, environ=environ
    )
    action: Callable[[argparse.Namespace, Console], int] = ACTIONS[args.token_command]
    try:
        return action(args, console)
    except CertdeskError as exc:
        return console.fail(exc)


def _pin(args: argparse.Namespace, console: Console, token: pkcs11.Token) -> str:
    return console.secret(
        args.pin_env,
        console.text("prompt.pin", token=token.label),
        console.text("what.pin"),
        "--pin-env VAR",
    )


def _print_stored(console: Console, stored: StoredCertificate, verb: str) -> None:
    from common.time import days_left, utcnow

    cert = stored.certificate
    days = days_left(cert.not_valid_after_utc, utcnow())
    rows = [
        ("field.label", stored.label),
        ("field.subject", cert.subject.rfc4514_string()),
        ("field.serial", stored.serial),
        (
            "field.valid_until",
            console.text(
                "valid_until", when=f"{cert.not_valid_after_utc:%Y-%m-%d %H:%M}", days=days
            ),
        ),
        ("field.key_id", stored.key_id.hex()),
    ]
    if stored.replaces:
        old = superseded_of(stored)
        replaced = (
            console.text("replaced.kept", serial=stored.replaces, label=old)
            if stored.kept_old
            else console.text("replaced.deleted", serial=stored.replaces)
        )
        rows.append(("field.replaces", replaced))
    console.say(f"stored.{verb}", token=stored.token_label)
    for key, value in rows:
        print(f"  {console.text(key) + ':':<13}{value}")


def superseded_of(stored: StoredCertificate) -> str:
    from usbkey.inventory import superseded_label

    return superseded_label(stored.label, stored.replaces or "")


def run_enroll(args: argparse.Namespace, console: Console) -> int:
    from usbkey.client import enroll, parse_link, select_token

    parse_link(args.link)
    token = select_token(args.module, args.token_label)
    reference = args.reference_number or console.ask(
        console.text("prompt.reference"), console.text("what.reference"), "--reference-number N"
    )
    code = console.secret(
        args.authorization_code_env,
        console.text("prompt.code"),
        console.text("what.code"),
        "--authorization-code-env VAR",
    )
    stored = enroll(
        token=token,
        link=args.link,
        pin=_pin(args, console, token),
        reference_number=reference,
        authorization_code=code,
        key_type=args.key_type or "ec-p256",
        progress=console.step,
        lang=console.lang,
    )
    _print_stored(console, stored, "enrolled")
    return EXIT_OK


def run_renew(args: argparse.Namespace, console: Console) -> int:
    from usbkey.client import renew, select_token

    token = select_token(args.module, args.token_label)
    stored = renew(
        token=token,
        pin=_pin(args, console, token),
        label=args.label,
        server=args.server,
        key_type=args.key_type,
        keep_old=args.keep_old,
        progress=console.step,
        lang=console.lang,
    )
    _print_stored(console, stored, "renewed")
    return EXIT_OK


def _certificate_line(
    console: Console,
    key: str,
    found: CertificateOnToken,
    state: str,
    revocation: str | None = None,
) -> str:
    from common.time import days_left, utcnow

    days = days_left(found.not_after, utcnow())
    said = console.text(f"state.{state}", days=days)
    if revocation is not None:
        said = console.text("state.checked", state=said, revocation=revocation)
    return console.text(
        key,
        mark="*" if state == "current" else " ",
        label=found.label,
        cn=found.common_name,
        serial=found.serial,
        when=f"{found.not_after:%Y-%m-%d %H:%M}",
        state=said,
    )


def run_list(args: argparse.Namespace, console: Console) -> int:
    from usbkey.client import inventory

    tokens = inventory(args.module, check_revocation=not args.offline, progress=console.step)
    if not tokens:
        console.say("list.none", module=args.module)
        return EXIT_OK
    for item in tokens:
        info = item.info
        console.say(
            "list.token",
            slot=info.slot_id,
            label=info.label,
            manufacturer=info.manufacturer,
            model=info.model,
            serial=info.serial,
        )
        if not item.certificates:
            console.say("list.empty")
        for found, state in item.certificates:
            checked = item.revocations.get(found.certificate.serial_number)
            said = None if checked is None else _revocation_text(console, checked)
            print(_certificate_line(console, "list.certificate", found, state, said))
        if any(state == "current" for _, state in item.certificates):
            console.say("list.legend")
        if any(checked.status == "revoked" for checked in item.revocations.values()):
            console.say("list.revoked")
    return EXIT_OK


def _revocation_text(console: Console, checked: Revocation) -> str:
    if checked.status == "revoked":
        assert checked.revoked_at is not None
        reason = console.text(f"reason.{checked.reason or 'unspecified'}")
        return console.text(
            "revocation.revoked", when=f"{checked.revoked_at:%Y-%m-%d %H:%M}", reason=reason
        )
    if checked.status == "not_checked":
        why = console.text(f"revocation.why.{checked.why}", **dict(checked.details))
        return console.text("revocation.not_checked", why=why)
    return console.text(f"revocation.{checked.status}")


def run_clean(args: argparse.Namespace, console: Console) -> int:
    from common.time import utcnow
    from usbkey.client import clean, cleanable, select_token
    from usbkey.pkcs11.errors import InputMissing

    token = select_token(args.module, args.token_label)
    doomed = cleanable(token)
    if not doomed:
        console.say("clean.nothing", token=token.label)
        return EXIT_OK
    for found in doomed:
        state = "expired" if found.not_after <= utcnow() else "superseded"
        print(_certificate_line(console, "clean.candidate", found, state))
    if not args.yes:
        if not sys.stdin.isatty():
            raise InputMissing(console.text("what.confirmation"), "--yes")
        answer = input(console.text("clean.question", count=len(doomed), token=token.label))
        if answer.strip().lower() not in ("y", "yes", "是"):
            console.say("clean.kept")
            return EXIT_OK
    cleaned = clean(
        token=token, pin=_pin(args, console, token), confirmed={found.id for found in doomed}
    )
    console.say("clean.done", count=len(cleaned.removed), token=token.label)
    return EXIT_OK


ACTIONS: dict[str, Callable[[argparse.Namespace, Console], int]] = {
    "enroll": run_enroll,
    "renew": run_renew,
    "list": run_list,
    "clean": run_clean,
}
