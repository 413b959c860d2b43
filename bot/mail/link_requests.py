"""What ``GET /link`` asks for (enrollment/web/link_page.py's ``LinkRequests``): when the typed
address is the one the RA registered for a pending enrollment, a new one-time link mailed to
the registered address. Anything else does nothing but an audit row."""

from __future__ import annotations

import hmac
import logging
from dataclasses import replace

from bot.mail.holders import HolderLookup, HolderNotices
from common.errors import CertdeskError
from enrollment.models import Notify
from enrollment.services.ra import RaOperations

log = logging.getLogger(__name__)

ACTOR = "holder:link-page"


def _same_address(typed: str, registered: str) -> bool:
    return hmac.compare_digest(typed.strip().casefold().encode(), registered.casefold().encode())


class MailedLinkRequests:
    def __init__(self, *, ra: RaOperations, lookup: HolderLookup, notices: HolderNotices) -> None:
        self._ra = ra
        self._lookup = lookup
        self._notices = notices

    async def request_link(self, reference_number: str, email: str) -> None:
        holder = await self._lookup.of_enrollment(reference_number)
        if holder is None or holder.email is None or not _same_address(email, holder.email):
            await self._ra.audit(
                actor=ACTOR,
                action="link.request",
                target=reference_number[:128],
                outcome="refused",
                detail={"reason": "no such enrollment or a different address"},
            )
            return
        try:
            link = await self._ra.new_enrollment_link(reference_number, actor=ACTOR)
        except CertdeskError as exc:  # not pending any more
            await self._ra.audit(
                actor=ACTOR,
                action="link.request",
                target=reference_number,
                outcome="refused",
                detail={"reason": exc.code},
            )
            return
        by_mail = replace(holder, notify=Notify.EMAIL)  # the registered address, nothing else
        deliveries = await self._notices.enrollment_link(
            by_mail, reference=reference_number, link=link, code=None, resent=True
        )
        for delivery in deliveries:
            log.info(
                "new link requested",
                extra={"reference": reference_number, "ok": delivery.ok, "detail": delivery.detail},
            )
