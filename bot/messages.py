"""Every text the bot shows people, in English and Chinese, in one place.

The texts are in ``messages.toml`` beside this module, in Slack ``mrkdwn`` (``*bold*``,
```code```, ``<url|label>``, ``<@USER>``); the local chat page renders the same markup. A text
that is one lookup is read where it is shown, ``messages.text("label.renew", lang)``; the
functions here put together the ones that need more: dates, counts, lists, choices. No function
here does I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from common.language import Catalogue, Lang

if TYPE_CHECKING:
    from enrollment.queries import EnrollmentView
    from faq.inspector import CertificateInfo

MESSAGES = Catalogue("bot")
text = MESSAGES.text
"""The text ``key`` in ``lang``, ``{name}`` placeholders filled: ``text("ra.invalid", lang,
problem=…)``."""

LOCAL_CHAT_PAGE = MESSAGES.group("local_chat.page")
"""The local chat page's own texts (bot/chat/static/index.html), by placeholder."""


def when(moment: datetime) -> str:
    """An aware datetime as people read it: ``2027-01-05 14:30 UTC``."""
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def day(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d}"


def mention(user_id: str) -> str:
    return f"<@{user_id}>"


def _short(question: str) -> str:
    return question if len(question) <= 120 else question[:117] + "…"


# -- buttons ------------------------------------------------------------------------------


def label_renew_certificate(lang: Lang, cn: str, not_after: datetime) -> str:
    return text("label.renew_certificate", lang, cn=cn, not_after=day(not_after))


# -- download and renewal -----------------------------------------------------------------


def no_pending_enrollment(lang: Lang, *, has_certificates: bool) -> str:
    if has_certificates:
        return text("no_pending_enrollment.has_certificates", lang)
    return text("no_pending_enrollment.none", lang)


def download_link(lang: Lang, *, reference: str, url: str, expires_at: datetime) -> str:
    return text("download_link", lang, reference=reference, url=url, expires_at=when(expires_at))


def renewal_link(
    lang: Lang, *, cn: str, serial: str, url: str, expires_at: datetime, verification_code: str
) -> str:
    return text(
        "renewal_link",
        lang,
        cn=cn,
        serial=serial,
        url=url,
        verification_code=verification_code,
        expires_at=when(expires_at),
    )


# -- my certificates ----------------------------------------------------------------------


def status_word(lang: Lang, status: str) -> str:
    """An enrollment's or certificate's state in words; an unknown state as it is."""
    return text(f"status.{status}", lang) if f"status.{status}" in MESSAGES else status


def certificate_line(
    lang: Lang, *, cn: str, serial: str, status: str, not_after: datetime, days_left: int
) -> str:
    if status == "active" and days_left > 0:
        expiry = text(
            "certificate_line.expires", lang, not_after=day(not_after), days_left=days_left
        )
    else:
        expiry = text("certificate_line.valid_until", lang, not_after=day(not_after))
    return f"• *{cn}* — {status_word(lang, status)}, {expiry} · `{serial}`"


def enrollment_line(lang: Lang, *, cn: str, reference: str, locked: bool) -> str:
    state = status_word(lang, "locked" if locked else "pending")
    return text("enrollment_line", lang, cn=cn, reference=reference, state=state)


# -- issuance -----------------------------------------------------------------------------


def issued_dm(
    lang: Lang,
    *,
    cn: str,
    reference: str,
    authorization_code: str | None,
    url: str,
    expires_at: datetime,
    staff_user: str,
) -> str:
    if authorization_code is None:
        code = text("issued_dm.code_withheld", lang)
    else:
        code = text("issued_dm.code", lang, authorization_code=authorization_code)
    return text(
        "issued_dm",
        lang,
        staff_user=staff_user,
        cn=cn,
        reference=reference,
        code=code,
        url=url,
        expires_at=when(expires_at),
    )


# -- RA staff -----------------------------------------------------------------------------


def ra_issue_done(
    lang: Lang, *, reference: str, user: str, out_of_band_code: str | None, dm_sent: bool
) -> str:
    parts = [text("ra.issue_done", lang, reference=reference, user=user)]
    if dm_sent:
        sent = (
            "ra.issue_done.sent" if out_of_band_code is None else "ra.issue_done.sent_without_code"
        )
        parts.append(text(sent, lang))
    if out_of_band_code is not None:
        parts.append(
            text("ra.issue_done.out_of_band_code", lang, out_of_band_code=out_of_band_code)
        )
    return " ".join(parts)


def ra_resend_done(lang: Lang, *, user: str, references: Sequence[str]) -> str:
    return text("ra.resend_done", lang, user=user, refs=", ".join(references))


def ra_unlock_done(lang: Lang, reference: str, *, was_locked: bool) -> str:
    key = "ra.unlock_done" if was_locked else "ra.unlock_done.not_locked"
    return text(key, lang, reference=reference)


def ra_status_enrollment(lang: Lang, enrollment: EnrollmentView) -> str:
    cn, ous, o = enrollment.cn, enrollment.ous, enrollment.o
    subject = ", ".join([f"CN={cn}", *(f"OU={ou}" for ou in ous), *([f"O={o}"] if o else [])])
    return text(
        "ra.status_enrollment",
        lang,
        reference=enrollment.reference_number,
        state=status_word(lang, "locked" if enrollment.locked else enrollment.status),
        subject=subject,
        holder=mention(enrollment.slack_user) if enrollment.slack_user else "—",
        failed_attempts=enrollment.failed_attempts,
        created_at=when(enrollment.created_at),
    )


def ra_stats(lang: Lang, *, mail_failed: int | None = None, **counts: int) -> str:
    """``counts``: pending, locked, issued, active, expiring, expiring_days, revoked,
    open_escalations, unanswered (the placeholders of ``ra.stats``)."""
    stats = text("ra.stats", lang, **counts)
    if mail_failed is None:
        return stats
    return stats + "\n" + text("ra.stats.mail_failed", lang, mail_failed=mail_failed)


# -- escalation: the RA channel's thread reads both languages at once -----------------------


def escalation_ra_post(*, user: str, question: str) -> str:
    quoted = "\n".join(f"> {line}" for line in (question or "(no question given)").splitlines())
    return (
        f"{mention(user)} needs help / 需要帮助:\n{quoted or '> (no question given)'}\n"
        "Reply in this thread: I pass replies to them and theirs to here. "
        "Press *Resolved* when done. / 请在本帖回复；处理完毕后点击“已解决”。"
    )


def escalation_relay_to_thread(*, user: str, text: str) -> str:
    return f"{mention(user)}: {text}"


def escalation_resolved_thread(*, staff_user: str) -> str:
    return f"Resolved by {mention(staff_user)} / 已由 {mention(staff_user)} 解决."


# -- certificate files --------------------------------------------------------------------


def file_heading(lang: Lang, name: str, count: int) -> str:
    if count == 1:
        return text("file.heading.one", lang, name=name)
    return text("file.heading.many", lang, name=name, count=count)


def file_certificate(lang: Lang, certificate: CertificateInfo) -> str:
    cn, ous, o = certificate.common_name, certificate.organizational_units, certificate.organization
    not_after, days_left = certificate.not_after, certificate.days_left
    lines = [f"CN: `{cn or '—'}`"]
    for index, ou in enumerate(ous, start=1):
        note = text("file.ra_institution", lang) if index == 2 else ""
        lines.append(f"OU{index}: `{ou}`{note}")
    if not ous:
        lines.append("OU: `—`")
    lines.append(f"O: `{o or '—'}`")
    if days_left > 0:
        validity = text("file.valid_until", lang, not_after=day(not_after), days_left=days_left)
    else:
        validity = text("file.expired_on", lang, not_after=day(not_after))
    lines.append(text("file.issuer", lang, issuer=certificate.issuer))
    lines.append(text("file.serial", lang, serial=certificate.serial_hex, validity=validity))
    return "\n".join(lines)


# -- App Home -----------------------------------------------------------------------------


def home_staff_enrollment_line(
    lang: Lang, *, reference: str, cn: str, user: str | None, created_at: datetime
) -> str:
    holder = mention(user) if user else "—"
    return text(
        "home.staff_enrollment_line",
        lang,
        reference=reference,
        cn=cn,
        holder=holder,
        created_at=day(created_at),
    )


def home_escalation_line(lang: Lang, *, user: str, question: str, created_at: datetime) -> str:
    return f"• {mention(user)} · {day(created_at)} · {_short(question) or '—'}"


def home_unanswered_line(
    lang: Lang, *, question: str, count: int, last_asked: datetime, near_miss: str | None
) -> str:
    return text(
        "home.unanswered_line",
        lang,
        count=count,
        short=_short(question),
        last_asked=day(last_asked),
        near=near_miss or text("home.no_nearest_entry", lang),
    )


def taught(lang: Lang, *, question: str, entry_id: str, answered_by: str | None) -> str:
    if answered_by == entry_id:
        return text("taught", lang, question=question, entry_id=entry_id)
    now = answered_by or text("taught.no_entry", lang)
    return text("taught.still_answered_by", lang, question=question, entry_id=entry_id, now=now)


# -- Slack API trouble --------------------------------------------------------------------


def slack_error(lang: Lang, error: str) -> str:
    """An explanation of a Slack Web API error code that helps the person who triggered it."""
    if f"slack_error.{error}" in MESSAGES and error != "other":
        return text(f"slack_error.{error}", lang)
    return text("slack_error.other", lang, error=error)
