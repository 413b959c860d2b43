"""Block Kit rendering: dialog replies, the App Home view, the RA issue modal. Pure.

A reply's language travels in its actions block's ``block_id`` (``certdesk:zh:0``), so a button
click is answered in the language of the message it was on.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot import messages
from bot.dialog import Act, Button, Reply, certificate_line, renewable
from bot.models import EscalationPublic
from bot.slack.syntax import IssueArgs
from common.language import Lang
from enrollment.ca.profiles import DEFAULT_PROFILE, PROFILES
from enrollment.queries import CertificateView, EnrollmentView
from faq.review import QuestionGroup

Block = dict[str, Any]

SECTION_LIMIT = 3000
BUTTON_TEXT_LIMIT = 75
BUTTONS_PER_BLOCK = 5
HOME_LIST_LIMIT = 15
ISSUE_CALLBACK = "ra_issue"
TEACH_CALLBACK = "faq_teach"
_BLOCK_ID = re.compile(r"^certdesk:(en|zh):")


def action_pattern(act: Act) -> re.Pattern[str]:
    """Matches the action IDs of ``act``'s buttons (``renew_certificate#2``)."""
    return re.compile(rf"^{re.escape(act.value)}(#\d+)?$")


def block_language(block_id: str | None) -> Lang | None:
    match = _BLOCK_ID.match(block_id or "")
    if match is None:
        return None
    return "zh" if match.group(1) == "zh" else "en"


def inert(text: str) -> str:
    """A user's text, as it may appear in a message to others: Slack's control characters
    ``&``, ``<`` and ``>`` escaped (Slack's own entities read first, so none is doubled), so
    ``<!channel>``, ``<!here>``, ``<!everyone>``, ``<!subteam^…>`` and ``<@U…>`` show as text
    and ping no one."""
    return html.unescape(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def plain(text: str, limit: int = 150) -> dict[str, Any]:
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return {"type": "plain_text", "text": text, "emoji": True}


def section(text: str) -> list[Block]:
    """One or more mrkdwn sections (Slack allows 3000 characters in one), split at lines."""
    chunks: list[str] = []
    current: str | None = None
    for line in text.split("\n"):
        while len(line) > SECTION_LIMIT:
            if current is not None:
                chunks.append(current)
                current = None
            chunks.append(line[:SECTION_LIMIT])
            line = line[SECTION_LIMIT:]
        candidate = line if current is None else f"{current}\n{line}"
        if len(candidate) > SECTION_LIMIT:
            chunks.append(current or "")
            current = line
        else:
            current = candidate
    if current is not None:
        chunks.append(current)
    chunks = [c for c in chunks if c.strip()] or [" "]
    return [{"type": "section", "text": {"type": "mrkdwn", "text": c}} for c in chunks]


def button(item: Button, index: int) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "button",
        "action_id": f"{item.act.value}#{index}",
        "text": plain(item.label, BUTTON_TEXT_LIMIT),
        "value": item.value or "-",
    }
    if item.style is not None:
        element["style"] = item.style
    return element


def actions(buttons: Sequence[Button], lang: Lang, *, start: int = 0) -> list[Block]:
    blocks: list[Block] = []
    for offset in range(0, len(buttons), BUTTONS_PER_BLOCK):
        chunk = buttons[offset : offset + BUTTONS_PER_BLOCK]
        blocks.append(
            {
                "type": "actions",
                "block_id": f"certdesk:{lang}:{start + offset}",
                "elements": [button(b, start + offset + i) for i, b in enumerate(chunk)],
            }
        )
    return blocks


def reply_blocks(reply: Reply, lang: Lang) -> list[Block]:
    return [*section(reply.text), *actions(reply.buttons, lang)]


def fallback_text(text: str) -> str:
    """The notification text Slack shows where blocks are not rendered."""
    return text if len(text) <= 3900 else text[:3899] + "…"


def button_value(value: str) -> str:
    return "" if value == "-" else value


# -- App Home -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class StaffOverview:
    pending: Sequence[EnrollmentView]
    locked: Sequence[EnrollmentView]
    escalations: Sequence[EscalationPublic]
    unanswered: Sequence[QuestionGroup]


def home_view(
    *,
    certificates: Sequence[CertificateView],
    pending: Sequence[EnrollmentView],
    staff: StaffOverview | None,
    now: datetime,
    lang: Lang,
) -> dict[str, Any]:
    blocks: list[Block] = [
        {"type": "header", "text": plain(messages.text("home.title", lang))},
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": messages.text("home.intro", lang)}],
        },
        *section(messages.text("my_certificates_header", lang)),
    ]
    if not certificates:
        blocks.extend(section(messages.text("home.no_certificates", lang)))
    active = {c.serial for c in renewable(certificates, now)}
    for index, cert in enumerate(certificates[:HOME_LIST_LIMIT]):
        block: Block = section(certificate_line(cert, now=now, lang=lang))[0]
        if cert.serial in active:
            block["block_id"] = f"certdesk:{lang}:cert{index}"
            block["accessory"] = button(
                Button(Act.RENEW_CERTIFICATE, messages.text("label.renew", lang), cert.serial),
                index,
            )
        blocks.append(block)
    if pending:
        blocks.extend(section(messages.text("my_enrollments_header", lang)))
        for enrollment in pending:
            blocks.extend(
                section(
                    messages.enrollment_line(
                        lang,
                        cn=enrollment.cn,
                        reference=enrollment.reference_number,
                        locked=enrollment.locked,
                    )
                )
            )
        blocks.extend(
            actions(
                [Button(Act.DOWNLOAD, messages.text("label.download", lang), style="primary")], lang
            )
        )
    blocks.extend(
        actions(
            [
                Button(Act.MY_CERTIFICATES, messages.text("label.my_certificates", lang)),
                Button(Act.TALK_TO_RA, messages.text("label.talk_to_ra", lang)),
            ],
            lang,
            start=100,
        )
    )
    if staff is not None:
        blocks.extend(_staff_blocks(staff, lang))
    return {"type": "home", "blocks": blocks[:100]}


def _staff_blocks(staff: StaffOverview, lang: Lang) -> list[Block]:
    blocks: list[Block] = [
        {"type": "divider"},
        {"type": "header", "text": plain(messages.text("home.staff_header", lang))},
    ]

    def listing(header: str, lines: list[str]) -> None:
        text = "\n".join([header, *(lines[:HOME_LIST_LIMIT] or [messages.text("home.none", lang)])])
        blocks.extend(section(text))

    def enrollment_lines(items: Sequence[EnrollmentView]) -> list[str]:
        return [
            messages.home_staff_enrollment_line(
                lang,
                reference=e.reference_number,
                cn=e.cn,
                user=e.slack_user,
                created_at=e.created_at,
            )
            for e in items
        ]

    listing(
        messages.text("home.pending_header", lang, count=len(staff.pending)),
        enrollment_lines(staff.pending),
    )
    listing(
        messages.text("home.locked_header", lang, count=len(staff.locked)),
        enrollment_lines(staff.locked),
    )
    listing(
        messages.text("home.escalations_header", lang, count=len(staff.escalations)),
        [
            messages.home_escalation_line(
                lang, user=e.user_id, question=e.question, created_at=e.created_at
            )
            for e in staff.escalations
        ],
    )
    blocks.extend(
        section(messages.text("home.unanswered_header", lang, count=len(staff.unanswered)))
    )
    if not staff.unanswered:
        blocks.extend(section(messages.text("home.none", lang)))
    for index, group in enumerate(staff.unanswered[:HOME_LIST_LIMIT]):
        line = messages.home_unanswered_line(
            lang,
            question=group.question,
            count=group.count,
            last_asked=group.last_asked,
            near_miss=group.near_miss,
        )
        block = section(line)[0]
        block["block_id"] = f"certdesk:{lang}:teach{index}"
        block["accessory"] = button(
            Button(Act.TEACH, messages.text("label.teach", lang), str(group.ids[0])), 200 + index
        )
        blocks.append(block)
    return blocks


# -- teaching a question (App Home, RA staff) ---------------------------------------------


def teach_modal(
    lang: Lang,
    *,
    question: str,
    entries: Sequence[tuple[str, str]],
    initial: str | None,
    private_metadata: str,
) -> dict[str, Any]:
    """Pick the entry that should answer ``question`` (``entries``: id and title)."""
    return modal(
        TEACH_CALLBACK,
        private_metadata,
        title=messages.text("teach.modal_title", lang),
        submit=messages.text("teach.modal_submit", lang),
        blocks=[
            *section(messages.text("teach.modal_question", lang, question=question)),
            input_block(
                "entry",
                messages.text("teach.modal_entry", lang),
                static_select(
                    ((entry_id, f"{title} ({entry_id})") for entry_id, title in entries[:100]),
                    initial,
                ),
            ),
        ],
    )


def modal(
    callback_id: str, private_metadata: str, *, title: str, submit: str, blocks: list[Block]
) -> dict[str, Any]:
    """A modal view with a title, a submit button and ``blocks``."""
    return {
        "type": "modal",
        "callback_id": callback_id,
        "private_metadata": private_metadata,
        "title": plain(title, 24),
        "submit": plain(submit, 24),
        "blocks": blocks,
    }


def static_select(choices: Iterable[tuple[str, str]], initial: str | None) -> Block:
    """A menu of ``choices`` (value and text), the one whose value is ``initial`` chosen."""
    options = [{"text": plain(text, 75), "value": value} for value, text in choices]
    select: Block = {"type": "static_select", "action_id": "value", "options": options}
    chosen = [option for option in options if option["value"] == initial]
    if chosen:
        select["initial_option"] = chosen[0]
    return select


def input_block(block_id: str, label: str, element: Block, *, optional: bool = False) -> Block:
    """An input block whose element's value is read back under ``block_id``."""
    block: Block = {
        "type": "input",
        "block_id": block_id,
        "label": plain(label),
        "element": element,
    }
    if optional:
        block["optional"] = True
    return block


def teach_modal_entry(view: dict[str, Any]) -> str:
    """The entry chosen in a submitted teach modal ("" when none)."""
    element = view.get("state", {}).get("values", {}).get("entry", {}).get("value", {})
    return str((element.get("selected_option") or {}).get("value") or "")


# -- RA issue modal -----------------------------------------------------------------------


def issue_modal(lang: Lang, *, private_metadata: str = "") -> dict[str, Any]:
    def text_input(block_id: str, label: str, *, optional: bool, multiline: bool = False) -> Block:
        element = {"type": "plain_text_input", "action_id": "value", "multiline": multiline}
        return input_block(block_id, label, element, optional=optional)

    return modal(
        ISSUE_CALLBACK,
        private_metadata,
        title=messages.text("ra.issue_modal_title", lang),
        submit=messages.text("ra.issue_modal_submit", lang),
        blocks=[
            input_block(
                "holder",
                messages.text("field.holder", lang),
                {"type": "users_select", "action_id": "value"},
            ),
            text_input("cn", messages.text("field.cn", lang), optional=False),
            text_input("ous", messages.text("field.ous", lang), optional=True, multiline=True),
            text_input("o", messages.text("field.o", lang), optional=True),
            text_input("email", messages.text("field.email", lang), optional=True),
            input_block(
                "profile",
                messages.text("field.profile", lang),
                static_select(
                    (
                        (name, f"{name} — {profile.description}")
                        for name, profile in sorted(PROFILES.items())
                    ),
                    DEFAULT_PROFILE,
                ),
            ),
        ],
    )


def issue_modal_values(view: dict[str, Any]) -> IssueArgs:
    """The submitted modal's fields, as ``/ra issue`` takes them (holder and CN "" if empty)."""
    state = view.get("state", {}).get("values", {})

    def value(block: str) -> Any:
        element = state.get(block, {}).get("value", {})
        kind = element.get("type")
        if kind == "users_select":
            return element.get("selected_user")
        if kind == "static_select":
            return (element.get("selected_option") or {}).get("value")
        return element.get("value")

    ous_text = value("ous") or ""
    return IssueArgs(
        user=value("holder") or "",
        cn=value("cn") or "",
        ous=tuple(line.strip() for line in ous_text.splitlines() if line.strip()),
        o=value("o") or None,
        email=value("email") or None,
        profile=value("profile") or DEFAULT_PROFILE,
    )
