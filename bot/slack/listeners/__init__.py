"""Bolt listeners, one feature per module, each with ``register(app, desk)``.

Slack always gets its answer within 3 seconds: events are acknowledged before bolt dispatches
them (``bot.slack.app.accept``), and the command, action and view listeners acknowledge first
and leave slow work to ``desk.later`` (after the ack).
"""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.slack.desk import Desk
from bot.slack.listeners.actions import escalation as escalation_actions
from bot.slack.listeners.actions import feedback, menu
from bot.slack.listeners.commands import cert, ra
from bot.slack.listeners.events import app_home, direct_messages, files, mentions
from bot.slack.listeners.views import issue_modal, teach_modal

# Order matters for events: the first matching listener handles the event.
MODULES = (
    cert,
    ra,
    files,
    direct_messages,
    mentions,
    app_home,
    menu,
    feedback,
    escalation_actions,
    issue_modal,
    teach_modal,
)


def register_all(app: AsyncApp, desk: Desk) -> None:
    for module in MODULES:
        module.register(app, desk)

    @app.event("message")
    async def other_messages() -> None:
        """Edits, deletions, joins and the like: acknowledged, nothing to do."""
