"""``certdesk token``: the USB-key (PKCS#11) client. enroll, renew in place, list.

Runs on the holder's computer, talks to the token through its PKCS#11 module and to certdesk
through the enrollment API; it needs no database and no certdesk settings. Blocking on purpose:
a terminal command waits for the token anyway.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from bot.commands.shared import SubParsers, command_group, fail
from common.errors import CertdeskError
from common.time import days_left, utcnow
from usbkey.pkcs11.errors import InputMissing, ServerRefused
from usbkey.pkcs11.key_types import TOKEN_KEY_TYPES

if TYPE_CHECKING:
    import pkcs11

    from bot.settings import Settings
    from usbkey.client import StoredCertificate

EXIT_STATUS = """exit status: 0 done; 1 refused or failed (the message says why and what to do
next; a key pair made for a refused request is deleted again); 2 bad arguments."""


def register(sub: SubParsers) -> None:
    token_sub = command_group(sub, "token", help="USB key (PKCS#11): enroll, renew, list")

    enroll_parser = token_sub.add_parser(
        "enroll",
        help="download a certificate onto a USB key (key pair made on the key)",
        epilog=EXIT_STATUS,
    )
    enroll_parser.add_argument("link", metavar="LINK", help="the one-time link …/enroll/TOKEN")
    _common(enroll_parser)
    enroll_parser.add_argument("--reference-number", metavar="N", help="asked when not given")
    enroll_parser.add_argument(
        "--authorization-code-env",
        metavar="VAR",
        help="environment variable holding the authorization code (default: ask)",
    )
    enroll_parser.set_defaults(handler=run_enroll)

    renew_parser = token_sub.add_parser(
        "renew",
        help="renew the certificate on a USB key in place (new key pair on the key)",
        epilog=EXIT_STATUS,
    )
    _common(renew_parser)
    renew_parser.add_argument(
        "--label", metavar="L", help="which certificate, when the key holds several"
    )
    renew_parser.add_argument(
        "--server",
        metavar="URL",
        help="certdesk's URL (default: from the certificate's CRL distribution point)",
    )
    renew_parser.set_defaults(handler=run_renew)

    list_parser = token_sub.add_parser("list", help="USB keys and the certificates on them")
    list_parser.add_argument("--module", required=True, metavar="SO", help="PKCS#11 module")
    list_parser.set_defaults(handler=run_list)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--module", required=True, metavar="SO", help="the PKCS#11 module of the key's model"
    )
    parser.add_argument("--token-label", metavar="L", help="which key, when several are plugged in")
    parser.add_argument(
        "--pin-env", metavar="VAR", help="environment variable holding the PIN (default: ask)"
    )
    parser.add_argument(
        "--key-type",
        choices=TOKEN_KEY_TYPES,
        default=None,
        help="default: ec-p256 (renew: as before)",
    )


def _report_error(exc: CertdeskError) -> int:
    if isinstance(exc, ServerRefused):
        return fail(f"the server refused ({exc.code}): {exc.message}")
    return fail(exc.message)


def _secret(env_var: str | None, prompt: str, what: str, option: str) -> Callable[[], str]:
    """Read a secret from the named environment variable, else ask on the terminal."""

    def read() -> str:
        if env_var:
            value = os.environ.get(env_var)
            if not value:
                raise InputMissing(f"{what} (the environment variable {env_var} is empty)", option)
            return value
        if not sys.stdin.isatty():
            raise InputMissing(what, option)
        return getpass.getpass(prompt)

    return read


def _reference(given: str | None) -> str:
    if given:
        return given
    if not sys.stdin.isatty():
        raise InputMissing("reference number", "--reference-number N")
    return input("Reference number: ").strip()


def _print_stored(stored: StoredCertificate, verb: str) -> None:
    cert = stored.certificate
    days = days_left(cert.not_valid_after_utc, utcnow())
    print(f"Certificate {verb} on the USB key {stored.token_label!r}.")
    print(f"  Label:       {stored.label}")
    print(f"  Subject:     {cert.subject.rfc4514_string()}")
    print(f"  Serial:      {stored.serial}")
    print(f"  Valid until: {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC ({days} days)")
    print(f"  Key ID:      {stored.key_id.hex()}")
    if stored.replaces:
        print(
            f"  Replaces:    {stored.replaces} (now superseded; it stays on the key and valid "
            "until it expires, then you may delete it)"
        )


def _pin(args: argparse.Namespace, token: pkcs11.Token) -> str:
    return _secret(args.pin_env, f"PIN of USB key {token.label!r}: ", "PIN", "--pin-env VAR")()


def _write(verb: str, write: Callable[[], StoredCertificate]) -> int:
    """Put a certificate on the key; print what is stored there now, or why nothing is."""
    try:
        stored = write()
    except CertdeskError as exc:
        return _report_error(exc)
    _print_stored(stored, verb)
    return 0


def run_enroll(args: argparse.Namespace, settings: Settings) -> int:
    from usbkey.client import enroll, parse_link, select_token

    def write() -> StoredCertificate:
        parse_link(args.link)
        token = select_token(args.module, args.token_label)
        reference = _reference(args.reference_number)
        code = _secret(
            args.authorization_code_env,
            "Authorization code: ",
            "authorization code",
            "--authorization-code-env VAR",
        )()
        return enroll(
            token=token,
            link=args.link,
            pin=_pin(args, token),
            reference_number=reference,
            authorization_code=code,
            key_type=args.key_type or "ec-p256",
        )

    return _write("stored", write)


def run_renew(args: argparse.Namespace, settings: Settings) -> int:
    from usbkey.client import renew, select_token

    def write() -> StoredCertificate:
        token = select_token(args.module, args.token_label)
        return renew(
            token=token,
            pin=_pin(args, token),
            label=args.label,
            server=args.server,
            key_type=args.key_type,
        )

    return _write("renewed", write)


def run_list(args: argparse.Namespace, settings: Settings) -> int:
    from usbkey.client import inventory

    try:
        tokens = inventory(args.module)
    except CertdeskError as exc:
        return _report_error(exc)
    if not tokens:
        print(f"No initialised USB key found through {args.module}.")
        return 0
    now = utcnow()
    for item in tokens:
        info = item.info
        print(
            f"Slot {info.slot_id}: {info.label!r} ({info.manufacturer} {info.model}, "
            f"serial {info.serial})"
        )
        if not item.certificates:
            print("  no certificates")
        for found in item.certificates:
            days = days_left(found.not_after, now)
            state = f"{days} days left" if days > 0 else "expired"
            kind = " [CA]" if found.is_ca else ""
            print(
                f"  {found.label!r}{kind}: CN={found.common_name}, serial {found.serial}, "
                f"valid until {found.not_after:%Y-%m-%d %H:%M} UTC ({state})"
            )
    return 0
