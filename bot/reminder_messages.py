"""What a renewal reminder says, in English with a Chinese line, in one place.

Owners are reminded without knowing their language, so every reminder carries both. Texts are
Slack mrkdwn; the local outbox shows the same text.
"""

from __future__ import annotations

from datetime import UTC

from scheduler.policy import Reminder, ReminderKind


def _escape(text: str) -> str:
    """Slack's three control characters in user-supplied text (a certificate's CN)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _day_count_en(days: int) -> str:
    return "1 day" if days == 1 else f"{days} days"


def reminder_text(reminder: Reminder) -> str:
    """The whole message: what expires when, and what to do next."""
    cert = reminder.certificate
    cn = _escape(cert.subject_cn)
    serial = _escape(cert.serial)
    expiry = cert.not_after.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    if reminder.kind == ReminderKind.EXPIRED:
        return (
            f":rotating_light: Your certificate *{cn}* (serial `{serial}`) expired on "
            f"{expiry}.\n"
            "What to do next: reply *Renew* to me or use `/cert renew`. If it can no longer be "
            "renewed, I will put you in touch with RA staff for a new certificate.\n"
            f"你的证书 *{cn}*（序列号 `{serial}`）已于 {expiry} 过期。"
            "请回复 *Renew* 或使用 `/cert renew` 申请更新；如已无法更新，我会帮你联系 RA 工作人员"
            "重新办理。"
        )
    days = reminder.days_left
    return (
        f":hourglass_flowing_sand: Your certificate *{cn}* (serial `{serial}`) expires on "
        f"{expiry}, in {_day_count_en(days)}.\n"
        "What to do next: renew it before then. Reply *Renew* to me or use `/cert renew`, and I "
        "will send you a renewal link.\n"
        f"你的证书 *{cn}*（序列号 `{serial}`）将于 {expiry} 到期，还剩 {days} 天。"
        "请在到期前更新：回复 *Renew* 或使用 `/cert renew`，我会发给你更新链接。"
    )


def reminder_log_summary(reminder: Reminder) -> str:
    """One line for the log (no mrkdwn)."""
    cert = reminder.certificate
    if reminder.kind == ReminderKind.EXPIRED:
        return f"certificate {cert.serial} ({cert.subject_cn}) has expired"
    return (
        f"certificate {cert.serial} ({cert.subject_cn}) expires in "
        f"{_day_count_en(reminder.days_left)}"
    )
