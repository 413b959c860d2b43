"""Reminder texts: what expires when and what to do next, in English and Chinese."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from bot import dialog
from bot.reminder_messages import reminder_log_summary, reminder_text
from enrollment.queries import CertificateView
from scheduler.policy import CertificateFacts, Reminder

AS_OF = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)


def reminder(*, expires_in: timedelta, cn: str = "Test Holder 01") -> Reminder:
    not_after = AS_OF + expires_in
    facts = CertificateFacts(
        certificate_id=1,
        serial="ab12",
        subject_cn=cn,
        not_before=not_after - timedelta(days=365),
        not_after=not_after,
        owner_slack_user="U1",
    )
    return Reminder(
        certificate=facts,
        threshold_days=0 if expires_in <= timedelta(0) else 30,
        as_of=AS_OF,
    )


def test_reminder_text_expiring_names_certificate_date_days_and_next_step() -> None:
    text = reminder_text(reminder(expires_in=timedelta(days=30)))
    assert "*Test Holder 01* (serial `ab12`) expires on 2027-03-31 09:00 UTC, in 30 days" in text
    assert "Reply *Renew* to me or use `/cert renew`" in text
    assert "将于 2027-03-31 09:00 UTC 到期，还剩 30 天" in text


def test_reminder_text_one_day_is_singular() -> None:
    text = reminder_text(reminder(expires_in=timedelta(hours=5)))
    assert "in 1 day." in text
    assert "还剩 1 天" in text


def test_reminder_text_expired_says_expired_and_offers_ra_staff() -> None:
    text = reminder_text(reminder(expires_in=-timedelta(days=2)))
    assert "expired on 2027-02-27 09:00 UTC" in text
    assert "RA staff" in text
    assert "已于 2027-02-27 09:00 UTC 过期" in text


def test_reminder_text_shows_expiry_in_utc_whatever_the_input_zone() -> None:
    shanghai = timezone(timedelta(hours=8))
    not_after = datetime(2027, 3, 4, 17, 0, tzinfo=shanghai)
    facts = CertificateFacts(
        certificate_id=1,
        serial="ab12",
        subject_cn="X",
        not_before=not_after - timedelta(days=365),
        not_after=not_after,
    )
    text = reminder_text(Reminder(certificate=facts, threshold_days=7, as_of=AS_OF))
    assert "2027-03-04 09:00 UTC" in text


def test_reminder_text_escapes_slack_control_characters_in_cn() -> None:
    text = reminder_text(reminder(expires_in=timedelta(days=7), cn="A&B <!channel>"))
    assert "A&amp;B &lt;!channel&gt;" in text
    assert "<!channel>" not in text


def test_reminder_log_summary_is_one_plain_line() -> None:
    summary = reminder_log_summary(reminder(expires_in=timedelta(days=7)))
    assert summary == "certificate ab12 (Test Holder 01) expires in 7 days"


def test_reminder_and_my_certificates_count_the_same_days_at_a_boundary() -> None:
    """6 days 2 hours left: the reminder and "My certificates" both say 7 (one rule, rounded up)."""
    expires_in = timedelta(days=6, hours=2)
    sent = reminder_text(reminder(expires_in=expires_in))
    view = CertificateView(
        serial="ab12",
        cn="Test Holder 01",
        ous=(),
        o=None,
        owner_slack_user="U1",
        status="active",
        not_before=AS_OF - timedelta(days=365),
        not_after=AS_OF + expires_in,
        friendly_name=None,
    )
    listing = dialog.my_certificates([view], [], now=AS_OF, lang="en").text
    assert "in 7 days" in sent
    assert "(in 7 days)" in listing
    zh = dialog.my_certificates([view], [], now=AS_OF, lang="zh").text
    assert "还剩 7 天" in reminder_text(reminder(expires_in=expires_in))
    assert "还有 7 天" in zh
