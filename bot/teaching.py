"""The review loop for unanswered questions, shared by ``certdesk faq`` and Slack's App Home:
group what holders asked, and teach a question to an entry in the RA's own directory.

Teaching copies the shipped entry into ``CERTDESK_KNOWLEDGE_DIR`` the first time (so the RA's
file replaces it), appends the question to its examples (comments and layout kept), writes the
file atomically, checks what the knowledge base answers now, marks the matching unanswered
questions reviewed and audits the change. A running server rereads the directory within
``CERTDESK_KNOWLEDGE_RELOAD_SECONDS`` (the process that taught refreshes at once).
"""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Protocol, Unpack

from bot.settings import Settings
from bot.unanswered import UnansweredLog
from common.errors import CertdeskError
from common.language import Lang, detect_language
from enrollment.files import exclusive_lock, replace_file
from enrollment.services.results import AuditFacts
from faq.knowledge import KnowledgeBase
from faq.review import question_key

TEACH_LOCK = ".teach.lock"  # one teacher at a time per directory, in any process
NO_KNOWLEDGE_DIR = (
    "Teaching needs a directory for your RA's own entries: set CERTDESK_KNOWLEDGE_DIR "
    "(for example to $CERTDESK_DATA_DIR/knowledge) and run the command again."
)


class TeachRefused(CertdeskError, code="teach_refused", status=400):
    """A question could not be taught (no operator directory, unknown entry, bad file)."""


@dataclass(frozen=True, slots=True)
class Taught:
    entry_id: str
    question: str
    language: Lang
    path: Path
    copied: bool  # the shipped entry was copied into the operator directory first
    added: bool  # False: the entry already had this question
    answered_by: str | None  # what the knowledge base answers now (None: not confident)
    reviewed: int = 0  # unanswered questions marked reviewed

    def to_json(self) -> dict[str, object]:
        return {
            "entry": self.entry_id,
            "question": self.question,
            "language": self.language,
            "file": str(self.path),
            "copied": self.copied,
            "added": self.added,
            "answered_by": self.answered_by,
            "reviewed": self.reviewed,
        }


def teach_file(
    settings: Settings, entry_id: str, question: str, *, language: Lang | None = None
) -> Taught:
    """Add ``question`` to ``entry_id`` in the operator directory (blocking: file I/O and a new
    knowledge base to check the answer)."""
    from faq.editing import with_example
    from faq.errors import EntryInvalid, FaqError
    from faq.sources import load_all

    directory = settings.knowledge_dir
    if directory is None:
        raise TeachRefused(NO_KNOWLEDGE_DIR)
    text = " ".join(question.split())
    if not text:
        raise TeachRefused("The question is empty: give the question as holders asked it.")
    lang = language or detect_language(text)
    directory.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(directory / TEACH_LOCK):  # the CLI and a server may both teach
        try:
            entries, origins = load_all(directory)
        except FaqError as error:
            raise TeachRefused(f"{error.message}; fix it before teaching.") from error
        if entry_id not in {entry.id for entry in entries}:
            known = ", ".join(sorted(entry.id for entry in entries))
            raise TeachRefused(f"There is no entry {entry_id!r}. The entries are: {known}.")
        path = directory / f"{entry_id}.toml"
        copied = origins[entry_id] == "shipped"
        content = (
            (resources.files("faq.entries") / f"{entry_id}.toml").read_text(encoding="utf-8")
            if copied
            else path.read_text(encoding="utf-8")
        )
        try:
            updated = with_example(str(path), content, language=lang, question=text)
        except EntryInvalid as error:
            raise TeachRefused(error.message) from error
        added = updated != content
        if added or copied:
            replace_file(path, updated.encode("utf-8"), mode=0o644)
    kb = KnowledgeBase.load(operator_dir=directory, cache_dir=settings.cache_dir)
    answer = kb.ask(text, language=lang)
    return Taught(
        entry_id=entry_id,
        question=text,
        language=lang,
        path=path,
        copied=copied,
        added=added,
        answered_by=answer.id,
    )


class Auditor(Protocol):
    async def audit(self, *, actor: str, action: str, **facts: Unpack[AuditFacts]) -> None: ...


async def teach(
    settings: Settings,
    *,
    unanswered: UnansweredLog,
    auditor: Auditor,
    entry_id: str,
    question: str,
    actor: str,
    language: Lang | None = None,
) -> Taught:
    """Teach, mark the matching unanswered questions reviewed, and audit it (a refusal too)."""
    try:
        taught = await asyncio.to_thread(
            teach_file, settings, entry_id, question, language=language
        )
    except TeachRefused as refused:
        await auditor.audit(
            actor=actor,
            action="faq.teach",
            target=entry_id[:128],
            outcome="refused",
            detail={"question": question[:1000], "reason": refused.message},
        )
        raise
    key = question_key(taught.question)
    matching = [row.id for row in await unanswered.waiting() if question_key(row.question) == key]
    reviewed = await unanswered.mark_reviewed(matching)
    await auditor.audit(
        actor=actor,
        action="faq.teach",
        target=entry_id,
        detail={
            "question": taught.question,
            "language": taught.language,
            "file": taught.path.name,
            "copied": taught.copied,
            "answered_by": taught.answered_by,
            "reviewed": reviewed,
        },
    )
    return dataclasses.replace(taught, reviewed=reviewed)
