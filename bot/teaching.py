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
import contextlib
import dataclasses
import fcntl
import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.models import UnansweredQuestionPublic
from bot.settings import Settings
from bot.unanswered import SqlUnansweredLog
from common.errors import CertdeskError
from common.language import Lang, detect_language
from enrollment.db import session_factory
from enrollment.models import AuditEvent
from faq.knowledge import KnowledgeBase
from faq.text import normalize

_TRAILING = re.compile(r"[\s?？!！.。,，~～]+$")


class TeachRefused(CertdeskError):
    """A question could not be taught (no operator directory, unknown entry, bad file)."""

    code = "teach_refused"
    status = 400


def question_key(question: str) -> str:
    """What groups spellings of one question: normalised, without trailing punctuation."""
    return _TRAILING.sub("", normalize(question))


@dataclass(frozen=True, slots=True)
class QuestionGroup:
    """Spellings of one unanswered question, with how often it was asked and the nearest entry."""

    question: str  # the most asked spelling
    key: str
    count: int
    ids: tuple[int, ...]
    languages: tuple[str, ...]
    sources: tuple[str, ...]
    first_asked: datetime
    last_asked: datetime
    near_miss: str | None
    near_miss_score: float

    def to_json(self) -> dict[str, object]:
        return {
            "question": self.question,
            "count": self.count,
            "ids": list(self.ids),
            "languages": list(self.languages),
            "sources": list(self.sources),
            "first_asked": self.first_asked.isoformat(),
            "last_asked": self.last_asked.isoformat(),
            "near_miss": self.near_miss,
            "near_miss_score": round(self.near_miss_score, 4),
        }


def group_questions(
    rows: Sequence[UnansweredQuestionPublic], kb: KnowledgeBase | None
) -> list[QuestionGroup]:
    """``rows`` grouped by :func:`question_key`, most asked first; the near miss is what the
    current knowledge base ranks first (entries may have changed since the question was kept)."""
    by_key: dict[str, list[UnansweredQuestionPublic]] = {}
    for row in rows:
        by_key.setdefault(question_key(row.question), []).append(row)
    groups = []
    for key, members in by_key.items():
        top = max(members, key=lambda row: row.times_asked)
        ranked = kb.rank(top.question) if kb is not None else []
        groups.append(
            QuestionGroup(
                question=top.question,
                key=key,
                count=sum(row.times_asked for row in members),
                ids=tuple(row.id for row in members),
                languages=tuple(sorted({row.language for row in members})),
                sources=tuple(sorted({row.source for row in members})),
                first_asked=min(row.asked_at for row in members),
                last_asked=max(row.last_asked_at or row.asked_at for row in members),
                near_miss=ranked[0].entry_id if ranked else top.best_id,
                near_miss_score=ranked[0].score if ranked else top.score,
            )
        )
    groups.sort(key=lambda group: (-group.count, group.first_asked))
    return groups


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
        raise TeachRefused(
            "Teaching needs a directory for your RA's own entries: set CERTDESK_KNOWLEDGE_DIR "
            "(for example to $CERTDESK_DATA_DIR/knowledge) and run the command again."
        )
    text = " ".join(question.split())
    if not text:
        raise TeachRefused("The question is empty: give the question as holders asked it.")
    lang = language or detect_language(text)
    directory.mkdir(parents=True, exist_ok=True)
    with _locked(directory):
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
            _write_atomically(path, updated)
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


async def teach(
    settings: Settings,
    engine: AsyncEngine,
    *,
    entry_id: str,
    question: str,
    actor: str,
    language: Lang | None = None,
) -> Taught:
    """Teach, mark the matching unanswered questions reviewed, and audit it."""
    taught = await asyncio.to_thread(teach_file, settings, entry_id, question, language=language)
    store = SqlUnansweredLog(engine)
    key = question_key(taught.question)
    matching = [row.id for row in await store.waiting() if question_key(row.question) == key]
    reviewed = await store.mark_reviewed(matching)
    async with session_factory(engine)() as session:
        session.add(
            AuditEvent(
                actor=actor[:64],
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
        )
        await session.commit()
    return dataclasses.replace(taught, reviewed=reviewed)


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """One teacher at a time per directory (the CLI and a server may both teach)."""
    with open(directory / ".teach.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _write_atomically(path: Path, content: str) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(content)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
