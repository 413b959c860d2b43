"""The ``/ra issue`` modal's submission: fields are checked before the modal closes (errors
are shown next to the field); after the acknowledgement the submitter is checked against
``CERTDESK_RA_STAFF``, the enrollment is created and the result goes to their DM."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.web.async_client import AsyncWebClient

from bot import messages
from bot.dialog import Reply
from bot.slack import blocks
from bot.slack.desk import Desk, enrollment_request
from bot.slack.syntax import IssueArgs
from common.language import Lang
from enrollment.services.creation import field_problems

FIELD_BLOCKS = {"cn": "cn", "ous": "ous", "o": "o", "email": "email", "profile": "profile"}


def field_errors(args: IssueArgs) -> dict[str, str]:
    """Slack's ``response_action: errors`` map (block ID -> message) for invalid fields."""
    try:
        enrollment_request(args)
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for problem in field_problems(exc):
            # a rule across fields (a profile that needs an e-mail address) shows at the e-mail
            block = FIELD_BLOCKS.get(problem.field, "email")
            errors.setdefault(block, problem.message[:150])
        return errors
    return {}


async def tell(desk: Desk, client: AsyncWebClient, user: str, text: str, lang: Lang) -> None:
    await desk.send_dm(client, user, Reply(text), lang)


async def refuse(desk: Desk, client: AsyncWebClient, staff: str) -> None:
    await desk.audit(staff, "ra.issue", outcome="refused", detail={"reason": "not RA staff"})
    lang = await desk.language(client, staff)
    await tell(desk, client, staff, messages.text("ra.refused", lang), lang)


async def submit(desk: Desk, client: AsyncWebClient, staff: str, args: IssueArgs) -> None:
    if not await desk.is_staff(client, staff):
        await refuse(desk, client, staff)
        return
    lang = await desk.language(client, staff)
    answer = await desk.issue(client, staff, args, lang=lang)
    await tell(desk, client, staff, answer, lang)


def register(app: AsyncApp, desk: Desk) -> None:
    @app.view(blocks.ISSUE_CALLBACK)
    async def issue_submitted(
        ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient
    ) -> None:
        # Only pure checks before the acknowledgement: the staff check may need the Web API.
        args = blocks.issue_modal_values(view)
        errors = field_errors(args)
        if not args.user:
            errors["holder"] = "Choose the holder / 请选择持有人"
        if errors:
            await ack(response_action="errors", errors=errors)
            return
        await ack()
        desk.later(submit(desk, client, body["user"]["id"], args), name="ra-issue-modal")
