"""Reminder settings: CERTDESK_REMINDER_* parsed once, refused early with the variable's name."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from bot.reminders import reminder_policy
from bot.settings import Settings


def make(monkeypatch: pytest.MonkeyPatch, **env: str) -> Settings:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return Settings(_env_file=None)


def test_reminder_settings_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in (
        "CERTDESK_REMINDER_DAYS",
        "CERTDESK_REMINDER_INTERVAL_MINUTES",
        "CERTDESK_REMINDER_EXPIRED_NOTICE_DAYS",
        "CERTDESK_SERVE_REMINDERS",
    ):
        monkeypatch.delenv(key, raising=False)
    settings = make(monkeypatch)
    assert settings.reminder_days == (30, 14, 7, 1)
    assert settings.reminder_interval_minutes == 15
    assert settings.reminder_expired_notice_days == 30
    assert settings.serve_reminders is True


def test_reminder_days_accepts_commas_and_spaces_in_any_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = make(monkeypatch, CERTDESK_REMINDER_DAYS="7, 60 1,30")
    assert settings.reminder_days == (60, 30, 7, 1)
    policy = reminder_policy(settings)
    assert policy.thresholds == (60, 30, 7, 1)
    assert policy.expired_notice_window == timedelta(days=30)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "CERTDESK_REMINDER_DAYS must be whole numbers"),
        ("30,two", "CERTDESK_REMINDER_DAYS must be whole numbers"),
        ("30,-1", "CERTDESK_REMINDER_DAYS must be whole numbers"),
        ("30,0", "CERTDESK_REMINDER_DAYS must list 1 to 3650"),
        ("7,7", "CERTDESK_REMINDER_DAYS lists a day twice"),
    ],
)
def test_reminder_days_refuses_bad_values_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, value: str, message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        make(monkeypatch, CERTDESK_REMINDER_DAYS=value)


@pytest.mark.parametrize("value", ["0", "1441", "soon"])
def test_reminder_interval_refuses_out_of_range(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    with pytest.raises(ValidationError, match="CERTDESK_REMINDER_INTERVAL_MINUTES"):
        make(monkeypatch, CERTDESK_REMINDER_INTERVAL_MINUTES=value)


def test_serve_reminders_can_be_switched_off(monkeypatch: pytest.MonkeyPatch) -> None:
    assert make(monkeypatch, CERTDESK_SERVE_REMINDERS="false").serve_reminders is False
