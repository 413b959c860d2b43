"""The platform-neutral dialog: what the bot answers and which buttons it offers.

Pure functions over plain data. The Slack adapter (``bot/slack``) and the local chat page
(``bot/chat``) both ask this module what to say, then do the I/O themselves: when the dialog
decides a link should be handed out it returns :class:`GiveLink` / :class:`GiveRenewalLink`,
and the adapter creates the link for the user the dialog has already checked owns it.
"""

from __future__ import annotations

import enum
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from bot import messages
from common.language import Lang
from enrollment.queries import CertificateView, EnrollmentView
from faq.inspector import CertificateInfo

# -- the knowledge module, as the dialog sees it ------------------------------------------


class KnowledgeSuggestion(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def title(self) -> str: ...


class KnowledgeAnswer(Protocol):
    """One answer: ``id`` None means not confident (then maybe ``suggestions``)."""

    @property
    def id(self) -> str | None: ...

    @property
    def best_id(self) -> str | None:
        """The top-ranked entry, even when not confident (kept with unanswered questions)."""
        ...

    @property
    def score(self) -> float: ...

    @property
    def text(self) -> str: ...

    @property
    def action(self) -> str | None: ...

    @property
    def suggestions(self) -> Sequence[KnowledgeSuggestion]: ...


class KnowledgeEntry(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def action(self) -> str | None: ...

    def title(self, language: Lang) -> str: ...

    def answer(self, language: Lang) -> str: ...


class Knowledge(Protocol):
    def ask(self, question: str, *, language: Lang | None = None) -> KnowledgeAnswer: ...

    @property
    def entries(self) -> Mapping[str, KnowledgeEntry]: ...


# -- replies ------------------------------------------------------------------------------


class Act(enum.StrEnum):
    """What a button does. The values are Slack ``action_id`` prefixes and chat actions."""

    HELP = "help"
    DOWNLOAD = "download"
    DOWNLOAD_ENROLLMENT = "download_enrollment"  # value: reference number
    RENEW = "renew"
    RENEW_CERTIFICATE = "renew_certificate"  # value: serial
    MY_CERTIFICATES = "my_certificates"
    TALK_TO_RA = "talk_to_ra"  # value: the question, if any
    HELPFUL = "helpful"  # value: knowledge entry id
    NOT_HELPFUL = "not_helpful"  # value: the question
    SUGGESTION = "suggestion"  # value: knowledge entry id
    RESOLVED = "resolved"  # value: escalation id
    TEACH = "teach"  # value: an unanswered question's id (App Home, RA staff)


@dataclass(frozen=True, slots=True)
class Button:
    act: Act
    label: str
    value: str = ""
    style: Literal["primary", "danger"] | None = None


@dataclass(frozen=True, slots=True)
class Reply:
    text: str
    buttons: tuple[Button, ...] = ()


@dataclass(frozen=True, slots=True)
class GiveLink:
    """Hand the user a fresh one-time link for this (checked: their own, pending) enrollment."""

    reference_number: str


@dataclass(frozen=True, slots=True)
class GiveRenewalLink:
    """Hand the user a renewal link for this (checked: their own, active) certificate."""

    serial: str


BUTTON_VALUE_LIMIT = 2000  # Slack's limit for a button's value

_GREETINGS = frozenset(
    {"hi", "hello", "hey", "help", "menu", "start", "?", "你好", "您好", "帮助", "菜单", "嗨"}
)


def _normalized(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip().strip("!！.。?？").lower()


def is_greeting(text: str) -> bool:
    """A bare greeting or "help": answered with the menu rather than the knowledge base."""
    return _normalized(text) in _GREETINGS or text.strip() in {"?", "？"}


_MENU_WORDS = {
    "download": Act.DOWNLOAD,
    "download my certificate": Act.DOWNLOAD,
    "下载": Act.DOWNLOAD,
    "下载证书": Act.DOWNLOAD,
    "下载我的证书": Act.DOWNLOAD,
    "renew": Act.RENEW,
    "renewal": Act.RENEW,
    "renew my certificate": Act.RENEW,
    "更新": Act.RENEW,
    "续期": Act.RENEW,
    "更新证书": Act.RENEW,
    "status": Act.MY_CERTIFICATES,
    "my certificates": Act.MY_CERTIFICATES,
    "我的证书": Act.MY_CERTIFICATES,
}


def menu_word(text: str) -> Act | None:
    """A message that is just a menu button's word ("Renew", "下载") acts like the button;
    renewal reminders tell people to reply "Renew"."""
    return _MENU_WORDS.get(_normalized(text))


def menu_buttons(lang: Lang) -> tuple[Button, ...]:
    return (
        Button(Act.DOWNLOAD, messages.text("label.download", lang), style="primary"),
        Button(Act.RENEW, messages.text("label.renew", lang)),
        Button(Act.MY_CERTIFICATES, messages.text("label.my_certificates", lang)),
        Button(Act.TALK_TO_RA, messages.text("label.talk_to_ra", lang)),
    )


def welcome(lang: Lang) -> Reply:
    return Reply(messages.text("welcome", lang), menu_buttons(lang))


def talk_to_ra_button(lang: Lang, question: str = "") -> Button:
    return Button(
        Act.TALK_TO_RA, messages.text("label.talk_to_ra", lang), question[:BUTTON_VALUE_LIMIT]
    )


def choose(text: str, act: Act, options: Sequence[tuple[str, str]]) -> Reply:
    """Ask which one: a button per ``(label, value)`` option, all doing ``act``."""
    return Reply(text, tuple(Button(act, label, value) for label, value in options))


_ACTION_BUTTONS = {
    "download": Act.DOWNLOAD,
    "renew": Act.RENEW,
    "status": Act.MY_CERTIFICATES,
}


def _action_buttons(action: str | None, lang: Lang, question: str) -> list[Button]:
    if action == "escalate":
        return [talk_to_ra_button(lang, question)]
    act = _ACTION_BUTTONS.get(action or "")
    if act is None:
        return []
    key = {
        Act.DOWNLOAD: "label.download",
        Act.RENEW: "label.renew",
        Act.MY_CERTIFICATES: "label.my_certificates",
    }[act]
    label = messages.text(key, lang)
    return [Button(act, label, style="primary")]


def answer(question: str, result: KnowledgeAnswer, lang: Lang) -> Reply:
    """A knowledge answer with its next step, "helpful / not helpful", or a way to a human."""
    if result.id is not None:
        text = result.text
        if result.action == "inspect":
            text = f"{text}\n\n{messages.text('share_file_hint', lang)}"
        buttons = [
            *_action_buttons(result.action, lang, question),
            Button(Act.HELPFUL, messages.text("label.helpful", lang), result.id),
            Button(
                Act.NOT_HELPFUL,
                messages.text("label.not_helpful", lang),
                question[:BUTTON_VALUE_LIMIT],
            ),
        ]
        return Reply(text, tuple(buttons))
    if result.suggestions:
        return Reply(
            result.text or messages.text("did_you_mean", lang),
            (
                *(Button(Act.SUGGESTION, s.title, s.id) for s in result.suggestions[:3]),
                talk_to_ra_button(lang, question),
            ),
        )
    return Reply(
        result.text or messages.text("not_understood", lang), (talk_to_ra_button(lang, question),)
    )


def entry_answer(entry: KnowledgeEntry | None, lang: Lang) -> Reply:
    """The answer of a "did you mean" entry the user picked."""
    if entry is None:
        return Reply(messages.text("not_understood", lang), (talk_to_ra_button(lang),))
    text = entry.answer(lang)
    if entry.action == "inspect":
        text = f"{text}\n\n{messages.text('share_file_hint', lang)}"
    title = entry.title(lang)
    return Reply(
        text,
        (
            *_action_buttons(entry.action, lang, title),
            Button(Act.HELPFUL, messages.text("label.helpful", lang), entry.id),
            Button(Act.NOT_HELPFUL, messages.text("label.not_helpful", lang), title),
        ),
    )


def feedback(helpful: bool, question: str, lang: Lang) -> Reply:
    if helpful:
        return Reply(messages.text("feedback_thanks", lang))
    return Reply(messages.text("not_helpful", lang), (talk_to_ra_button(lang, question),))


# -- download -----------------------------------------------------------------------------


def download(
    pending: Sequence[EnrollmentView], *, user: str, has_certificates: bool, lang: Lang
) -> Reply | GiveLink:
    """The "Download my certificate" button for ``user``, whose pending enrollments these are."""
    if not pending:
        buttons = (
            (
                Button(Act.RENEW, messages.text("label.renew", lang)),
                Button(Act.MY_CERTIFICATES, messages.text("label.my_certificates", lang)),
            )
            if has_certificates
            else (talk_to_ra_button(lang),)
        )
        return Reply(
            messages.no_pending_enrollment(lang, has_certificates=has_certificates), buttons
        )
    if len(pending) == 1:
        return download_enrollment(pending[0], user=user, lang=lang)
    return choose(
        messages.text("choose_enrollment", lang),
        Act.DOWNLOAD_ENROLLMENT,
        [
            (
                messages.text("label.enrollment", lang, reference=e.reference_number, cn=e.cn),
                e.reference_number,
            )
            for e in pending
        ],
    )


def download_enrollment(
    enrollment: EnrollmentView | None, *, user: str, lang: Lang
) -> Reply | GiveLink:
    """A chosen enrollment: a link only for its own holder, only while pending and unlocked."""
    if enrollment is None or not user or enrollment.slack_user != user:
        return Reply(messages.text("not_your_enrollment", lang))
    if enrollment.status != "pending":
        return Reply(
            messages.text("enrollment_not_pending", lang, reference=enrollment.reference_number),
            (Button(Act.RENEW, messages.text("label.renew", lang)),),
        )
    if enrollment.locked:
        return Reply(
            messages.text("enrollment_locked", lang, reference=enrollment.reference_number),
            (talk_to_ra_button(lang, f"Enrollment {enrollment.reference_number} is locked"),),
        )
    return GiveLink(enrollment.reference_number)


def download_link(*, reference: str, url: str, expires_at: datetime, lang: Lang) -> Reply:
    return Reply(
        messages.download_link(lang, reference=reference, url=url, expires_at=expires_at),
        (talk_to_ra_button(lang),),
    )


# -- renewal ------------------------------------------------------------------------------


def renewable(certificates: Sequence[CertificateView], now: datetime) -> list[CertificateView]:
    return [c for c in certificates if c.status == "active" and c.not_after > now]


def renew(
    certificates: Sequence[CertificateView], *, now: datetime, lang: Lang
) -> Reply | GiveRenewalLink:
    """The "Renew" button; ``certificates`` are the user's own. One active: its link at once."""
    active = renewable(certificates, now)
    if not active:
        return Reply(
            messages.text("nothing_to_renew", lang),
            (Button(Act.DOWNLOAD, messages.text("label.download", lang)), talk_to_ra_button(lang)),
        )
    if len(active) == 1:
        return GiveRenewalLink(active[0].serial)
    return choose(
        messages.text("choose_certificate", lang),
        Act.RENEW_CERTIFICATE,
        [(messages.label_renew_certificate(lang, c.cn, c.not_after), c.serial) for c in active],
    )


def renew_certificate(
    certificate: CertificateView | None, *, user: str, now: datetime, lang: Lang
) -> Reply | GiveRenewalLink:
    if certificate is None or not user or certificate.owner_slack_user != user:
        return Reply(messages.text("not_your_certificate", lang))
    if certificate.status != "active" or certificate.not_after <= now:
        status = certificate.status if certificate.status != "active" else "expired"
        return Reply(
            messages.text(
                "certificate_not_active",
                lang,
                serial=certificate.serial,
                status=messages.status_word(lang, status),
            ),
            (talk_to_ra_button(lang),),
        )
    return GiveRenewalLink(certificate.serial)


def renewal_link(
    certificate: CertificateView,
    *,
    url: str,
    expires_at: datetime,
    verification_code: str,
    lang: Lang,
) -> Reply:
    return Reply(
        messages.renewal_link(
            lang,
            cn=certificate.cn,
            serial=certificate.serial,
            url=url,
            expires_at=expires_at,
            verification_code=verification_code,
        )
    )


# -- my certificates ----------------------------------------------------------------------


def effective_status(certificate: CertificateView, now: datetime) -> str:
    if certificate.status == "active" and certificate.not_after <= now:
        return "expired"
    return certificate.status


def certificate_line(certificate: CertificateView, *, now: datetime, lang: Lang) -> str:
    """One line of "My certificates" (the reply and the App Home)."""
    return messages.certificate_line(
        lang,
        cn=certificate.cn,
        serial=certificate.serial,
        status=effective_status(certificate, now),
        not_after=certificate.not_after,
        days_left=certificate.days_left(now),
    )


def my_certificates(
    certificates: Sequence[CertificateView],
    pending: Sequence[EnrollmentView],
    *,
    now: datetime,
    lang: Lang,
) -> Reply:
    if not certificates and not pending:
        return Reply(messages.text("nothing_yet", lang), (talk_to_ra_button(lang),))
    parts: list[str] = []
    if certificates:
        parts.append(messages.text("my_certificates_header", lang))
        parts.extend(certificate_line(c, now=now, lang=lang) for c in certificates)
    if pending:
        parts.append(messages.text("my_enrollments_header", lang))
        parts.extend(
            messages.enrollment_line(lang, cn=e.cn, reference=e.reference_number, locked=e.locked)
            for e in pending
        )
    buttons: list[Button] = []
    if pending:
        buttons.append(Button(Act.DOWNLOAD, messages.text("label.download", lang), style="primary"))
    if renewable(certificates, now):
        buttons.append(Button(Act.RENEW, messages.text("label.renew", lang)))
    return Reply("\n".join(parts), tuple(buttons))


# -- certificate files --------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class FileFindings:
    """What a shared file turned out to hold. A private key means: tell them to delete it."""

    certificates: tuple[CertificateInfo, ...] = ()
    has_private_key: bool = False


class CertificateReader(Protocol):
    """Reads a file's bytes (no I/O of its own)."""

    def __call__(self, data: bytes) -> FileFindings: ...


def file_reply(name: str, findings: FileFindings, lang: Lang) -> Reply:
    parts: list[str] = []
    if findings.has_private_key:
        parts.append(messages.text("file.private_key_warning", lang))
    if findings.certificates:
        parts.append(messages.file_heading(lang, name, len(findings.certificates)))
        parts.extend(messages.file_certificate(lang, c) for c in findings.certificates)
    elif not findings.has_private_key:
        parts.append(messages.text("file.not_certificate", lang, name=name))
    return Reply("\n\n".join(parts))
