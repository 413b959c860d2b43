"""App Home: the user's certificates and pending enrollments; for RA staff also pending and
locked enrollments, open escalations and the questions the bot could not answer."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.desk import Desk


def register(app: AsyncApp, desk: Desk) -> None:
    @app.event("app_home_opened")
    async def app_home_opened(event: dict[str, Any], client: AsyncWebClient) -> None:
        if event.get("tab", "home") != "home":
            return
        await desk.publish_home(client, event["user"])
