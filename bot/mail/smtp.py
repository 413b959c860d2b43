"""SMTP: ``CERTDESK_SMTP_URL`` parsed (standard library only, for the settings) and mail sent
with aiosmtplib (imported when a mail is sent).

``smtp://user:pass@host:587?starttls=1`` speaks plain SMTP and upgrades with STARTTLS;
``smtps://host:465`` speaks TLS from the start. Without ``starttls=1`` a ``smtp://`` URL
still upgrades when the server offers STARTTLS (aiosmtplib's default) but does not insist.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from email.message import EmailMessage
from urllib.parse import parse_qs, unquote, urlsplit

TIMEOUT_SECONDS = 30.0


class MailFailed(Exception):
    """A mail was not accepted. ``permanent``: the server refused it for good (5xx), sending
    it again cannot help; otherwise (4xx, unreachable, timeout) a later attempt may work."""

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent


@dataclass(frozen=True, slots=True, kw_only=True)
class SmtpConfig:
    host: str
    port: int
    use_tls: bool
    require_starttls: bool
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @property
    def where(self) -> str:
        """The server, for messages: never the user name or password."""
        return f"{self.host}:{self.port}"


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def parse_smtp_url(url: str) -> SmtpConfig:
    """The SMTP server of ``url``; a ``ValueError`` that never repeats the URL (it may hold a
    password) says what is wrong."""
    example = "e.g. smtp://user:pass@mail.example.com:587?starttls=1 or smtps://mail.example.com"
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise ValueError(f"CERTDESK_SMTP_URL is not a URL with a valid port ({example})") from None
    if parts.scheme not in ("smtp", "smtps"):
        raise ValueError(f"CERTDESK_SMTP_URL must start with smtp:// or smtps:// ({example})")
    if not parts.hostname:
        raise ValueError(f"CERTDESK_SMTP_URL names no host ({example})")
    query = parse_qs(parts.query)
    unknown = set(query) - {"starttls"}
    if unknown:
        raise ValueError(
            f"CERTDESK_SMTP_URL has an unknown option {sorted(unknown)[0]!r}; only starttls=1 "
            "is understood"
        )
    starttls_value = query.get("starttls", ["0"])[-1].lower()
    if starttls_value not in _TRUE | _FALSE:
        raise ValueError("CERTDESK_SMTP_URL's starttls must be 1 or 0")
    use_tls = parts.scheme == "smtps"
    starttls = starttls_value in _TRUE
    if use_tls and starttls:
        raise ValueError(
            "CERTDESK_SMTP_URL: smtps:// is TLS from the start; starttls=1 is for smtp:// only"
        )
    return SmtpConfig(
        host=parts.hostname,
        port=port or (465 if use_tls else 587 if starttls else 25),
        use_tls=use_tls,
        require_starttls=starttls,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
    )


class SmtpTransport:
    """Sends one message per connection (mails are few; no connection is kept open)."""

    def __init__(self, config: SmtpConfig) -> None:
        self.config = config

    async def send(self, message: EmailMessage) -> None:
        """Send ``message``; :class:`MailFailed` says whether trying again can help."""
        import aiosmtplib

        config = self.config
        where = config.where
        try:
            await aiosmtplib.send(
                message,
                hostname=config.host,
                port=config.port,
                username=config.username,
                password=config.password,
                use_tls=config.use_tls,
                start_tls=True if config.require_starttls else None,
                timeout=TIMEOUT_SECONDS,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [refused.code for refused in exc.recipients]
            detail = "; ".join(f"{r.code} {r.message}" for r in exc.recipients)
            raise MailFailed(
                f"the mail server at {where} refused the recipient: {detail}"[:500],
                permanent=all(500 <= code < 600 for code in codes),
            ) from None
        except aiosmtplib.SMTPResponseException as exc:
            raise MailFailed(
                f"the mail server at {where} answered {exc.code} {exc.message}"[:500],
                permanent=500 <= exc.code < 600,
            ) from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            reason = str(exc) or type(exc).__name__
            raise MailFailed(
                f"the mail server at {where} could not be reached: {reason}"[:500],
                permanent=False,
            ) from None
