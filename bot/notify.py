"""Notifiers: how reminders reach their owners (the ``scheduler.run.Notifier`` protocol).

* ``SlackNotifier``: a direct message from the bot (``chat.postMessage`` with the owner's user
  ID as the channel), through slack-sdk's ``AsyncWebClient`` against ``SLACK_API_URL``.
* ``LocalNotifier``: when Slack is off and the owner has no e-mail address, the reminder goes
  to the log and to the local outbox (``bot/outbox.py``) that the local chat shows.
* ``bot/mail/reminders.py``: reminders by mail, and the notifier that routes between them.

``build_notifier(settings, engine)`` picks one by configuration.
"""

from __future__ import annotations

import logging

from aiohttp import ClientError
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.outbox import LocalOutbox
from bot.reminder_messages import reminder_log_summary, reminder_text
from bot.settings import Settings
from scheduler.errors import DeliveryError
from scheduler.policy import Reminder
from scheduler.run import Notifier

log = logging.getLogger(__name__)

PERMANENT_SLACK_ERRORS = frozenset(
    {
        "account_inactive",
        "cannot_dm_bot",
        "channel_not_found",
        "is_archived",
        "messages_tab_disabled",
        "user_disabled",
        "user_not_found",
    }
)
"""Slack errors about the recipient: retrying the same message cannot help. Token and scope
errors are not here: once an operator fixes the configuration, the retries get through."""


class SlackNotifier:
    """Sends each reminder as a direct message from the bot to the certificate's owner."""

    channel = "slack"

    def __init__(self, *, client: AsyncWebClient) -> None:
        self._client = client

    async def notify(self, reminder: Reminder) -> None:
        user = reminder.certificate.owner_slack_user
        if not user:
            raise DeliveryError(
                f"certificate {reminder.certificate.serial} has no Slack owner to remind",
                permanent=True,
            )
        try:
            await self._client.chat_postMessage(
                channel=user, text=reminder_text(reminder), unfurl_links=False
            )
        except SlackApiError as exc:
            data = exc.response.data
            if isinstance(data, dict):
                error = str(data.get("error", "unknown_error"))
            else:
                error = f"HTTP {exc.response.status_code}"
            raise DeliveryError(
                f"Slack refused the message to {user}: {error}",
                permanent=error in PERMANENT_SLACK_ERRORS,
            ) from exc
        except (SlackClientError, ClientError, TimeoutError) as exc:
            raise DeliveryError(f"Slack could not be reached: {exc!r}") from exc


class LocalNotifier:
    """Slack is off: the reminder goes to the log and to the local outbox."""

    channel = "local"

    def __init__(self, *, outbox: LocalOutbox) -> None:
        self._outbox = outbox

    async def notify(self, reminder: Reminder) -> None:
        cert = reminder.certificate
        recipient = cert.owner_slack_user or cert.owner_email
        log.info(
            "reminder: %s",
            reminder_log_summary(reminder),
            extra={
                "serial": cert.serial,
                "recipient": recipient,
                "threshold_days": reminder.threshold_days,
                "days_left": reminder.days_left,
            },
        )
        await self._outbox.add(
            recipient=recipient,
            certificate_serial=cert.serial,
            kind=reminder.kind,
            text=reminder_text(reminder),
        )


def slack_web_client(settings: Settings) -> AsyncWebClient:
    """The Web API client for ``SLACK_BOT_TOKEN`` and ``SLACK_API_URL``; waits out HTTP 429."""
    if settings.slack_bot_token is None:
        raise ValueError("SLACK_BOT_TOKEN is not set: Slack is off")
    base_url = settings.slack_api_url or AsyncWebClient.BASE_URL
    return AsyncWebClient(
        token=settings.slack_bot_token.get_secret_value(),
        base_url=base_url if base_url.endswith("/") else f"{base_url}/",
        timeout=20,
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(max_retry_count=1),
            AsyncRateLimitErrorRetryHandler(max_retry_count=2),
        ],
    )


def build_notifier(settings: Settings, engine: AsyncEngine) -> Notifier:
    """Per reminder: Slack when ``SLACK_BOT_TOKEN`` is set and the certificate has a Slack
    owner, else mail when it has an address (bot/mail/reminders.py), else Slack (which
    refuses: no owner) or, with Slack off, the log and local outbox."""
    from bot.mail.holders import HolderLookup
    from bot.mail.postman import Postman
    from bot.mail.reminders import MailNotifier, RoutingNotifier

    mail = MailNotifier(
        postman=Postman.from_settings(settings), holders=HolderLookup(engine=engine)
    )
    if settings.slack_enabled:
        slack = SlackNotifier(client=slack_web_client(settings))
        return RoutingNotifier(slack=slack, mail=mail, fallback=slack)
    return RoutingNotifier(
        slack=None, mail=mail, fallback=LocalNotifier(outbox=LocalOutbox(engine=engine))
    )
