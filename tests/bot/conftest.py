"""Fixtures and small factories for the bot's tests."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.messages import Lang
from enrollment.queries import CertificateView, EnrollmentView

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def enrollment(
    reference: str = "1234567890",
    *,
    user: str | None = "U2",
    status: str = "pending",
    locked: bool = False,
    cn: str = "Test Holder 02",
) -> EnrollmentView:
    return EnrollmentView(
        reference_number=reference,
        cn=cn,
        ous=("Branch 7",),
        o="Acme Bank",
        slack_user=user,
        status=status,
        locked=locked,
        failed_attempts=5 if locked else 0,
        created_at=NOW - timedelta(days=1),
    )


def certificate(
    serial: str = "abc123",
    *,
    user: str | None = "U2",
    status: str = "active",
    days: int = 30,
    cn: str = "Test Holder 02",
) -> CertificateView:
    return CertificateView(
        serial=serial,
        cn=cn,
        ous=("Branch 7",),
        o="Acme Bank",
        owner_slack_user=user,
        status=status,
        not_before=NOW - timedelta(days=300),
        not_after=NOW + timedelta(days=days),
        friendly_name=None,
    )


@dataclass(frozen=True)
class FakeSuggestion:
    id: str
    title: str


@dataclass(frozen=True)
class FakeAnswer:
    id: str | None
    score: float
    text: str
    action: str | None = None
    suggestions: Sequence[FakeSuggestion] = ()


@dataclass(frozen=True)
class FakeEntry:
    id: str
    action: str | None
    titles: Mapping[str, str]
    answers: Mapping[str, str]

    def title(self, language: Lang) -> str:
        return self.titles[language]

    def answer(self, language: Lang) -> str:
        return self.answers[language]


@dataclass
class FakeKnowledge:
    """A knowledge base that knows one topic (finding CN/OU/O) and one "did you mean"."""

    asked: list[str] = field(default_factory=list)

    @property
    def entries(self) -> Mapping[str, FakeEntry]:
        return {
            "find-cn-ou-o": FakeEntry(
                id="find-cn-ou-o",
                action="inspect",
                titles={"en": "How to find CN, OU and O", "zh": "如何查看 CN、OU 和 O"},
                answers={"en": "Open the certificate's Subject.", "zh": "查看证书的使用者。"},
            ),
            "renewal": FakeEntry(
                id="renewal",
                action="renew",
                titles={"en": "How to renew", "zh": "如何更新"},
                answers={"en": "Press Renew.", "zh": "点击更新证书。"},
            ),
        }

    def ask(self, question: str, *, language: Lang | None = None) -> Any:
        self.asked.append(question)
        lang = language or "en"
        lowered = question.lower()
        if "cn" in lowered:
            entry = self.entries["find-cn-ou-o"]
            return FakeAnswer(entry.id, 0.9, entry.answer(lang), entry.action)
        if "renew" in lowered or "更新" in question:
            entry = self.entries["renewal"]
            return FakeAnswer(entry.id, 0.9, entry.answer(lang), entry.action)
        if "certificate" in lowered:
            return FakeAnswer(
                None,
                0.4,
                "Did you mean:",
                None,
                (FakeSuggestion("find-cn-ou-o", "How to find CN, OU and O"),),
            )
        return FakeAnswer(None, 0.1, "", "escalate")
