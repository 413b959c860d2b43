"""What certdesk says about itself when it starts (``serve``) or is set up (``init``): where
it answers, which database and data directory it uses, which channels are on, and which CA
signs. One line for a terminal, the same facts as fields for JSON logs; never a password."""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives import hashes

from bot.settings import Settings
from enrollment.ca.authority import IssuingCA


def safe_database_url(url: str) -> str:
    """``url`` with its password replaced by ``***``."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(unparseable database URL)"


def ca_fingerprint(ca: IssuingCA) -> str:
    """The issuing CA certificate's SHA-256 fingerprint, as ``AB:CD:…`` (openssl's form)."""
    return ca.certificate.fingerprint(hashes.SHA256()).hex(":").upper()


def startup_facts(settings: Settings, ca: IssuingCA) -> dict[str, Any]:
    smtp_url = settings.smtp_url
    return {
        "public_url": settings.public_url,
        "database": safe_database_url(settings.database_url),
        "data_dir": str(settings.data_dir.resolve()),
        "slack": settings.slack_enabled,
        "socket_mode": settings.slack_socket_mode,
        "smtp": smtp_url is not None,
        "ca_subject": ca.certificate.subject.rfc4514_string(),
        "ca_fingerprint_sha256": ca_fingerprint(ca),
    }


def describe(facts: dict[str, Any]) -> str:
    """The facts as one line a person reads."""

    def on(flag: object) -> str:
        return "on" if flag else "off"

    return (
        f"URL {facts['public_url']} · database {facts['database']} · data directory "
        f"{facts['data_dir']} · Slack {on(facts['slack'])} · Socket Mode "
        f"{on(facts['socket_mode'])} · SMTP "
        f"{on(facts['smtp']) if facts['smtp'] else 'off (mail goes to the local outbox)'} · "
        f"CA {facts['ca_subject']} (SHA-256 {facts['ca_fingerprint_sha256']})"
    )
