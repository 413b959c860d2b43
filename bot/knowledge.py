"""The knowledge room (``faq/``) as the bot uses it: the knowledge base, kept current with the
RA's own entries, and the certificate inspector.

The dialog codes against the protocols in :mod:`bot.dialog`; this module adapts the knowledge
room to them. The questions it cannot answer are kept by :mod:`bot.unanswered`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Mapping

from bot.dialog import CertificateReader, FileFindings, Knowledge, KnowledgeAnswer, KnowledgeEntry
from bot.settings import Settings
from common.language import Lang
from common.time import utcnow
from faq import (
    FaqError,
    InspectionError,
    KnowledgeBase,
    PasswordRequired,
    WrongPassword,
    inspect_certificates,
)

log = logging.getLogger(__name__)


def knowledge_base(settings: Settings) -> KnowledgeBase:
    """The shipped entries merged with ``CERTDESK_KNOWLEDGE_DIR``'s (blocking: it builds its
    index, and fits its classifier unless an earlier process left it in the cache). A broken
    entry file raises :class:`~faq.EntryInvalid`, whose message is one line."""
    return KnowledgeBase.load(operator_dir=settings.knowledge_dir, cache_dir=settings.cache_dir)


class LiveKnowledge:
    """The knowledge base a running server answers from, reread when the RA's entries change.

    :meth:`refresh` compares the operator directory's fingerprint (names, sizes, times) with
    the one it loaded and, when it changed, builds a new knowledge base off the event loop and
    swaps it in; a broken change keeps the last good set and logs why. :class:`KnowledgeWatch`
    calls it on a period and on ``SIGHUP``.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._current: KnowledgeBase | None = None
        self._digest = ""
        self._refreshing = asyncio.Lock()

    def load(self) -> LiveKnowledge:
        """Load the first set (blocking; raises :class:`~faq.EntryInvalid` on a broken file)."""
        from faq.sources import directory_digest

        digest = directory_digest(self._settings.knowledge_dir)
        self._current = knowledge_base(self._settings)
        self._digest = digest
        return self

    @property
    def _kb(self) -> KnowledgeBase:
        if self._current is None:
            self.load()
        assert self._current is not None
        return self._current

    def ask(self, question: str, *, language: Lang | None = None) -> KnowledgeAnswer:
        return self._kb.ask(question, language=language)

    @property
    def entries(self) -> Mapping[str, KnowledgeEntry]:
        return self._kb.entries

    async def refresh(self, *, force: bool = False) -> bool:
        """Reread the entries if they changed (or ``force``); True when a new set is in use."""
        from faq.sources import directory_digest

        async with self._refreshing:
            digest = await asyncio.to_thread(directory_digest, self._settings.knowledge_dir)
            if digest == self._digest and not force:
                return False
            try:
                fresh = await asyncio.to_thread(knowledge_base, self._settings)
            except FaqError as error:
                self._digest = digest  # logged once per change, not at every period
                log.error(
                    "knowledge entries not reloaded, the last good set stays in use: %s",
                    error.message,
                    extra={"code": error.code},
                )
                return False
            self._current, self._digest = fresh, digest
            log.info("knowledge entries reloaded", extra={"entries": len(fresh.entries)})
            return True


class KnowledgeWatch:
    """Refreshes a :class:`LiveKnowledge` every ``period`` seconds and on ``SIGHUP``, from
    :meth:`start` to :meth:`stop` (the server's ``cleanup_ctx``)."""

    def __init__(self, live: LiveKnowledge, *, period: float) -> None:
        self._live = live
        self._period = period
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self._wake.set)
        self._task = asyncio.create_task(self._run(), name="knowledge-watch")

    async def stop(self) -> None:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._period)
            forced = self._wake.is_set()
            self._wake.clear()
            try:
                await self._live.refresh(force=forced)
            except Exception:  # never let a reload failure end the watcher
                log.exception("knowledge reload failed")


def load_knowledge(settings: Settings) -> Knowledge:
    """A :class:`LiveKnowledge` with its first set loaded (blocking)."""
    return LiveKnowledge(settings).load()


def certificate_reader() -> CertificateReader:
    def read(data: bytes) -> FileFindings:
        try:
            inspection = inspect_certificates(data, now=utcnow())
        except (PasswordRequired, WrongPassword):
            return FileFindings(has_private_key=True)  # a PKCS#12 file: it holds a key
        except InspectionError:
            return FileFindings()
        return FileFindings(
            certificates=inspection.certificates, has_private_key=inspection.has_private_key
        )

    return read
