"""``certdesk ra resend`` and ``ra renew``: a new link delivered by the holder's channel (Slack
first, else mail; see bot/mail/holders.py), audited like ``/ra resend`` and the bot's "Renew".

Exit codes: 0 delivered (or nothing to deliver by: the link is printed for the RA to hand
over), 1 refused (unknown reference or serial, not pending, not active), 3 made but not
delivered (the mail is kept in the outbox; the message says what to do).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from bot.commands.shared import SubParsers, command

if TYPE_CHECKING:
    from bot.mail.holders import Delivery
    from bot.runtime import Runtime
    from bot.settings import Settings

NOT_DELIVERED = 3


def register(ra_sub: SubParsers) -> None:
    resend = command(ra_sub, "resend", run_resend)
    resend.add_argument("reference", metavar="REFERENCE", help="the enrollment's reference number")
    resend.add_argument("--json", action="store_true", help="print one JSON object")

    renew = command(ra_sub, "renew", run_renew)
    renew.add_argument("serial", metavar="SERIAL", help="serial number in hex (colons allowed)")
    renew.add_argument("--json", action="store_true", help="print one JSON object")


def print_deliveries(deliveries: Sequence[Delivery], *, code_follows: str) -> None:
    for delivery in deliveries:
        if delivery.ok:
            print(f"Delivered ({delivery.channel}): {delivery.detail}")
            if delivery.code_mail_at is not None:
                print(f"Code mail:          queued for {delivery.code_mail_at:%Y-%m-%d %H:%M} UTC")
    if any(d.ok and d.channel == "email" for d in deliveries) and code_follows != "separate":
        print(
            "The mail carries no code: hand the authorization code to the holder on another "
            "channel (in person, by phone or by letter)."
        )


def report_failures(deliveries: Sequence[Delivery]) -> int:
    failed = [d for d in deliveries if not d.ok]
    for delivery in failed:
        print(f"certdesk: not delivered by {delivery.channel}: {delivery.detail}", file=sys.stderr)
    if failed:
        print(
            "certdesk: the link was made; once the channel works again run `certdesk ra "
            "resend` (or `ra renew`), or hand the holder the link yourself",
            file=sys.stderr,
        )
        return NOT_DELIVERED
    return 0


async def notify_holder(
    settings: Settings,
    runtime: Runtime,
    *,
    unlocked: str | None = None,
    revoked: str | None = None,
    reason: str = "",
) -> None:
    """Tell the holder (a courtesy: the change is made either way) that their enrollment was
    unlocked or their certificate revoked, by their channel; say how it went on stderr."""
    from bot.mail.holders import HolderLookup
    from bot.mail.wiring import holder_notices

    lookup = HolderLookup(engine=runtime.engine)
    notices = holder_notices(settings, runtime)
    if unlocked is not None:
        holder = await lookup.of_enrollment(unlocked)
        if holder is None:
            return
        deliveries = await notices.notice("unlocked", holder, {"reference": unlocked})
    elif revoked is not None:
        found = await lookup.of_certificate(revoked)
        if found is None:
            return
        deliveries = await notices.notice(
            "revoked", found[0], {"serial": found[1].serial, "reason": reason}
        )
    else:
        return
    for delivery in deliveries:
        outcome = "told" if delivery.ok else "not told"
        print(
            f"certdesk: holder {outcome} ({delivery.channel}): {delivery.detail}", file=sys.stderr
        )


def run_resend(args: argparse.Namespace, settings: Settings) -> int:
    """make a new one-time link for a pending enrollment and deliver it to the holder"""
    import asyncio

    from bot.commands.ra import actor
    from bot.commands.shared import cli_runtime, fail
    from bot.mail.holders import HolderLookup
    from bot.mail.wiring import holder_notices
    from common.errors import CertdeskError
    from enrollment.codes import normalize_reference

    reference = normalize_reference(args.reference)

    async def go() -> int:
        async with cli_runtime(settings) as runtime:
            holder = await HolderLookup(engine=runtime.engine).of_enrollment(reference)
            try:
                link = await runtime.services.ra.new_enrollment_link(reference, actor=actor())
            except CertdeskError as exc:
                return fail(exc.message)
            assert holder is not None  # new_enrollment_link refuses an unknown reference
            deliveries = await holder_notices(settings, runtime).enrollment_link(
                holder, reference=reference, link=link, code=None, resent=True
            )
            await runtime.services.ra.audit(
                actor=actor(),
                action="ra.resend",
                target=reference,
                detail={"channels": [d.channel for d in deliveries if d.ok]},
            )
        delivered = any(d.ok for d in deliveries)
        if args.json:
            answer: dict[str, object] = {
                "reference_number": reference,
                "link_expires_at": link.expires_at.isoformat(),
                "deliveries": [d.as_dict() for d in deliveries],
            }
            if not delivered:
                answer["link"] = link.url
            print(json.dumps(answer))
        else:
            print(f"New link for {reference}, expires {link.expires_at:%Y-%m-%d %H:%M} UTC.")
            for delivery in deliveries:
                if delivery.ok:
                    print(f"Delivered ({delivery.channel}): {delivery.detail}")
            if not delivered:
                print(f"One-time link:      {link.url}")
                if not deliveries:
                    print("The holder has no Slack user or e-mail address: hand them the link.")
        return report_failures(deliveries)

    return asyncio.run(go())


def run_renew(args: argparse.Namespace, settings: Settings) -> int:
    """make a renewal link for an active certificate and deliver it to its owner"""
    import asyncio

    from bot.commands.ra import actor
    from bot.commands.shared import cli_runtime, fail
    from bot.mail.holders import HolderLookup
    from bot.mail.wiring import holder_notices
    from common.errors import CertdeskError

    async def go() -> int:
        async with cli_runtime(settings) as runtime:
            try:
                renewal = await runtime.services.renewal.create_renewal_link(
                    args.serial, actor=actor()
                )
            except CertdeskError as exc:
                return fail(exc.message)
            found = await HolderLookup(engine=runtime.engine).of_certificate(args.serial)
            assert found is not None  # create_renewal_link refuses an unknown serial
            holder, certificate = found
            notices = holder_notices(settings, runtime)
            deliveries = await notices.renewal_link(
                holder,
                certificate,
                link=renewal.link,
                verification_code=renewal.verification_code,
            )
            await runtime.services.ra.audit(
                actor=actor(),
                action="ra.renew",
                target=certificate.serial,
                detail={"channels": [d.channel for d in deliveries if d.ok]},
            )
        delivered = any(d.ok for d in deliveries)
        mailed = any(d.ok and d.channel == "email" for d in deliveries)
        # The verification code is the RA's to hand over unless a mail carries it on its own
        # (separate mode) or the holder got it in Slack with the link.
        show_code = not delivered or (mailed and not notices.separate_codes)
        if args.json:
            answer: dict[str, object] = {
                "serial": certificate.serial,
                "link_expires_at": renewal.link.expires_at.isoformat(),
                "deliveries": [d.as_dict() for d in deliveries],
            }
            if show_code:
                answer["verification_code"] = renewal.verification_code
            if not delivered:
                answer["link"] = renewal.link.url
            print(json.dumps(answer))
        else:
            print(
                f"Renewal link for {certificate.serial} ({certificate.cn}), expires "
                f"{renewal.link.expires_at:%Y-%m-%d %H:%M} UTC."
            )
            print_deliveries(deliveries, code_follows=settings.mail_code)
            if not delivered:
                print(f"Renewal link:       {renewal.link.url}")
            if show_code:
                print(f"Verification code:  {renewal.verification_code}")
                print("Hand the verification code to the holder on another channel.")
        return report_failures(deliveries)

    return asyncio.run(go())
