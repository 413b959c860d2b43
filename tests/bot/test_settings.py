"""Settings: environment parsing and early, precise configuration errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.settings import Settings


def make(monkeypatch: pytest.MonkeyPatch, **env: str) -> Settings:
    for key in (
        "CERTDESK_DATABASE_URL",
        "SLACK_BOT_TOKEN",
        "SLACK_SIGNING_SECRET",
        "SLACK_APP_TOKEN",
        "CERTDESK_RA_STAFF",
        "CERTDESK_PUBLIC_URL",
        "PORT",
    ):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return Settings(_env_file=None)


def test_defaults_are_embedded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    settings = make(monkeypatch, CERTDESK_DATA_DIR=str(tmp_path))
    assert settings.database_url == f"sqlite+aiosqlite:///{tmp_path}/certdesk.db"
    assert settings.public_url == "http://127.0.0.1:8080"
    assert settings.port == 8080
    assert not settings.slack_enabled


def test_ra_staff_accepts_commas_and_spaces(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = make(monkeypatch, CERTDESK_RA_STAFF="U01, U02  S0GROUP")
    assert settings.ra_staff == ("U01", "U02", "S0GROUP")


def test_half_configured_slack_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match="SLACK_SIGNING_SECRET"):
        make(monkeypatch, SLACK_BOT_TOKEN="xoxb-1")


def test_database_url_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    url = "postgresql+asyncpg://u@db/certdesk"
    assert make(monkeypatch, CERTDESK_DATABASE_URL=url).database_url == url


def test_public_url_trailing_slash_removed(monkeypatch: pytest.MonkeyPatch) -> None:
    assert make(monkeypatch, CERTDESK_PUBLIC_URL="https://certs.example/").public_url == (
        "https://certs.example"
    )


def test_hsm_module_without_pin_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CERTDESK_CA_PKCS11_PIN", raising=False)
    with pytest.raises(ValidationError, match="CERTDESK_CA_PKCS11_PIN"):
        make(monkeypatch, CERTDESK_CA_PKCS11_MODULE="/usr/lib/softhsm/libsofthsm2.so")
