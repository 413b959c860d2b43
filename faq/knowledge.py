"""Knowledge entries (one TOML file per topic) and the knowledge base the bot asks.

An entry file looks like this (``faq/entries/renewal.toml``)::

    id = "renewal"
    action = "renew"            # optional: download | renew | escalate | inspect

    [en]
    title = "How to renew a certificate"
    keywords = ["renew", ...]   # optional: words that make a question about this topic
    questions = ["How do I renew my certificate?", ...]
    answer = \"\"\"...\"\"\"

    [zh]
    title = "如何更新证书"
    questions = ["怎么更新证书？", ...]
    answer = \"\"\"...\"\"\"
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from common.language import LANGUAGES, Lang, detect_language
from faq import messages
from faq.errors import EntryInvalid
from faq.retrieval import (
    DEFAULT_PARAMS,
    DEFAULT_SECOND_LOOK,
    DEFAULT_THRESHOLDS,
    Candidate,
    Decision,
    Outcome,
    RankingParams,
    Retriever,
    SecondLook,
    Signals,
    Thresholds,
)

if TYPE_CHECKING:
    from faq.tables import ParsedTables

REQUIRED_IDS: tuple[str, ...] = (
    "prerequisites",
    "environment-check",
    "trusted-sites",
    "download-to-browser",
    "download-to-usbkey",
    "choose-csp",
    "usbkey-password",
    "download-errors",
    "renewal",
    "renewed-certificate-location",
    "keypair-permission-error",
    "find-cn-ou-o",
    "lost-codes",
    "certificate-expiry",
    # what holders ask once they have their certificate
    "import-certificate-file",
    "forgotten-file-password",
    "revocation",
    "certificate-not-trusted",
    "use-certificate",
    "move-certificate",
    "usbkey-client-install",
    "change-details",
)
MIN_QUESTIONS = 5
_ID = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_TOML_WHERE = re.compile(r"\s*\(at line (\d+), column (\d+)\)")


class Action(StrEnum):
    """What the bot may offer after an answer."""

    DOWNLOAD = "download"
    RENEW = "renew"
    ESCALATE = "escalate"
    INSPECT = "inspect"


@dataclass(frozen=True, slots=True, kw_only=True)
class LocalizedEntry:
    title: str
    questions: tuple[str, ...]
    answer: str
    keywords: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Entry:
    """One topic: texts in every language of :data:`~common.language.LANGUAGES`, maybe an action.

    ``untranslated`` lists the languages an operator entry did not write: their texts are a copy
    of another language's (``faq check`` reports them; shipped entries have none).
    """

    id: str
    action: Action | None
    texts: Mapping[Lang, LocalizedEntry]
    untranslated: tuple[Lang, ...] = ()

    def __post_init__(self) -> None:
        if not _ID.fullmatch(self.id):
            raise ValueError(f"entry id {self.id!r} must be lower-case words joined by '-'")
        missing = [language for language in LANGUAGES if language not in self.texts]
        if missing:
            raise ValueError(f"entry {self.id!r} has no text in {', '.join(missing)}")
        for language, localized in self.texts.items():
            if not localized.title.strip() or not localized.answer.strip():
                raise ValueError(f"entry {self.id!r} ({language}) needs a title and an answer")
            if len(localized.questions) < MIN_QUESTIONS:
                raise ValueError(
                    f"entry {self.id!r} ({language}) needs at least {MIN_QUESTIONS} example "
                    f"questions, has {len(localized.questions)}"
                )
        object.__setattr__(self, "texts", MappingProxyType(dict(self.texts)))

    def title(self, language: Lang) -> str:
        return self.texts[language].title

    def answer(self, language: Lang) -> str:
        return self.texts[language].answer

    def questions(self, language: Lang) -> tuple[str, ...]:
        return self.texts[language].questions

    def keywords(self, language: Lang) -> tuple[str, ...]:
        return self.texts[language].keywords


def parse_entry(
    source: str,
    content: str,
    *,
    allow_untranslated: bool = False,
    tables: ParsedTables | None = None,
) -> Entry:
    """An :class:`Entry` from TOML text; ``source`` (a file name) appears in errors, with the line.

    With ``allow_untranslated`` (operator entries), a missing language table is filled with a copy
    of another language's texts and named in :attr:`Entry.untranslated`. ``tables`` may hold the
    text's table parsed by an earlier process (:mod:`faq.tables`).
    """
    try:
        data = tomllib.loads(content) if tables is None else tables.parse(content)
    except tomllib.TOMLDecodeError as error:
        # tomllib says "… (at line 3, column 7)" or "… (at end of document)"
        where = _TOML_WHERE.search(str(error))
        problem = _TOML_WHERE.sub("", str(error)).removesuffix(" (at end of document)")
        if where:
            problem, line = f"{problem} (column {where[2]})", int(where[1])
        else:
            problem, line = f"{problem} at the end of the file", max(1, len(content.splitlines()))
        raise EntryInvalid(source, f"not valid TOML: {problem}", line=line) from error
    try:
        action = data.get("action")
        present = {
            language: _localized(data, language)
            for language in LANGUAGES
            if not allow_untranslated or language in data
        }
        if not present:
            raise _Problem("needs a table for at least one language: " + ", ".join(LANGUAGES))
        untranslated = tuple(language for language in LANGUAGES if language not in present)
        fallback = next(iter(present.values()))
        if action is not None and action not in set(Action):
            choices = ", ".join(Action)
            raise _Problem(f"action {action!r} is not one of {choices}", key="action")
        return Entry(
            id=_string(data, "id"),
            action=None if action is None else Action(action),
            texts={language: present.get(language, fallback) for language in LANGUAGES},
            untranslated=untranslated,
        )
    except _Problem as error:
        line = _line_of(content, error.table, error.key)
        raise EntryInvalid(source, str(error), line=line) from error
    except (KeyError, TypeError, ValueError) as error:
        raise EntryInvalid(source, str(error), line=_line_of(content, None, None)) from error


class _Problem(ValueError):
    """What is wrong with an entry, and where: the table (language) and key it is in."""

    def __init__(self, problem: str, *, table: str | None = None, key: str | None = None) -> None:
        super().__init__(problem)
        self.table = table
        self.key = key


def _line_of(content: str, table: str | None, key: str | None) -> int:
    """The 1-based line of ``key`` in ``[table]`` (or of the table, or the first line)."""
    current: str | None = None
    table_line = None
    for number, raw in enumerate(content.splitlines(), start=1):
        line = raw.strip()
        if line.startswith("[") and line.endswith("]"):
            current = line.strip("[] ")
            if current == table and table_line is None:
                table_line = number
            continue
        if key is not None and current == table and re.match(rf"{re.escape(key)}\s*=", line):
            return number
    return table_line or 1


def _string(table: Mapping[str, Any], key: str, *, where: str | None = None) -> str:
    if key not in table:
        raise _Problem(f"missing {key!r}", table=where)
    value = table[key]
    if not isinstance(value, str):
        raise _Problem(f"{key!r} must be a string", table=where, key=key)
    return value


def _localized(data: Mapping[str, Any], language: Lang) -> LocalizedEntry:
    table = data.get(language)
    if not isinstance(table, dict):
        raise _Problem(f"missing table [{language}]")
    localized = LocalizedEntry(
        title=_string(table, "title", where=language).strip(),
        questions=_strings(table, "questions", language),
        answer=_string(table, "answer", where=language).strip(),
        keywords=_strings(table, "keywords", language) if "keywords" in table else (),
    )
    if not localized.title or not localized.answer:
        raise _Problem(f"[{language}] needs a title and an answer", table=language)
    if len(localized.questions) < MIN_QUESTIONS:
        raise _Problem(
            f"[{language}] needs at least {MIN_QUESTIONS} example questions, has "
            f"{len(localized.questions)}",
            table=language,
            key="questions",
        )
    return localized


def _strings(table: Mapping[str, Any], key: str, language: Lang) -> tuple[str, ...]:
    values = table.get(key)
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise _Problem(
            f"[{language}] {key} must be a list of strings",
            table=language,
            key=key if key in table else None,
        )
    return tuple(values)


def load_entries(
    directory: Traversable | Path | None = None,
    *,
    allow_untranslated: bool = False,
    tables: ParsedTables | None = None,
) -> tuple[Entry, ...]:
    """Every ``*.toml`` entry in ``directory`` (default: the entries shipped in ``faq.entries``);
    ``tables``: see :func:`parse_entry`."""
    folder: Traversable = resources.files("faq.entries") if directory is None else directory
    files = sorted(
        (item for item in folder.iterdir() if item.name.endswith(".toml")),
        key=lambda item: item.name,
    )
    entries = []
    for item in files:
        source = str(item) if isinstance(item, Path) else item.name
        try:
            content = item.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise EntryInvalid(source, f"cannot be read: {error}") from error
        entry = parse_entry(source, content, allow_untranslated=allow_untranslated, tables=tables)
        if item.name != f"{entry.id}.toml":
            raise EntryInvalid(
                source, f"file name must be {entry.id}.toml", line=_line_of(content, None, "id")
            )
        entries.append(entry)
    return tuple(entries)


@dataclass(frozen=True, slots=True)
class Suggestion:
    id: str
    title: str
    score: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Answer:
    """The knowledge base's reply to one question.

    ``id`` is the entry answered, or ``None`` when not confident (then ``suggestions`` may list
    "did you mean" entries, and ``text`` says so); ``best_id`` is the top-ranked entry whatever
    the outcome; ``text`` is in ``language``.
    """

    question: str
    id: str | None
    best_id: str | None
    score: float
    outcome: Outcome
    language: Lang
    text: str
    action: Action | None
    suggestions: tuple[Suggestion, ...] = ()

    @property
    def confident(self) -> bool:
        return self.outcome is Outcome.CONFIDENT

    def to_json(self) -> dict[str, str | float | None]:
        """The ``certdesk ask --json`` object: ``{"id", "score", "answer"}``."""
        return {"id": self.id, "score": round(self.score, 4), "answer": self.text}


class KnowledgeBase:
    """The entries plus a retriever over their titles and example questions.

    >>> kb = KnowledgeBase.load()
    >>> kb.ask("How do I renew my certificate?").id
    'renewal'
    >>> kb.ask("证书什么时候到期？").language
    'zh'
    """

    def __init__(
        self,
        *,
        entries: Iterable[Entry],
        thresholds: Thresholds = DEFAULT_THRESHOLDS,
        params: RankingParams = DEFAULT_PARAMS,
        second_look: SecondLook | None = DEFAULT_SECOND_LOOK,
        cache_dir: Path | None = None,
    ) -> None:
        by_id: dict[str, Entry] = {}
        for entry in entries:
            if entry.id in by_id:
                raise ValueError(f"duplicate entry id {entry.id!r}")
            by_id[entry.id] = entry
        if not by_id:
            raise ValueError("a knowledge base needs at least one entry")
        self.thresholds = thresholds
        self.second_look = second_look
        self._entries = MappingProxyType(by_id)
        self._retriever = Retriever(
            examples=[
                (entry.id, example)
                for entry in by_id.values()
                for language in LANGUAGES
                for example in (entry.title(language), *entry.questions(language))
            ],
            domain_terms=[
                keyword
                for entry in by_id.values()
                for language in LANGUAGES
                for keyword in entry.keywords(language)
            ],
            spelled=[
                item
                for entry in by_id.values()
                for language in LANGUAGES
                for item in (
                    entry.title(language),
                    entry.answer(language),
                    *entry.keywords(language),
                )
            ],
            params=params,
            cache_dir=cache_dir,
        )

    @classmethod
    def load(
        cls,
        directory: Traversable | Path | None = None,
        *,
        operator_dir: Path | None = None,
        thresholds: Thresholds = DEFAULT_THRESHOLDS,
        params: RankingParams = DEFAULT_PARAMS,
        second_look: SecondLook | None = DEFAULT_SECOND_LOOK,
        cache_dir: Path | None = None,
    ) -> KnowledgeBase:
        """The knowledge base from ``directory`` (default: the shipped entries, merged with an
        RA's ``operator_dir`` when given: see :mod:`faq.sources`).

        ``cache_dir`` keeps the entries' parsed tables, the fitted classifier and the
        retrieval's index and the examples' embeddings between processes (see :mod:`faq.tables`,
        :func:`faq.classifier.trained`, :mod:`faq.index` and :mod:`faq.embedding`, each keyed by
        a digest of what it is built from); without it all are built at every load.
        """
        from faq.tables import ParsedTables

        tables = ParsedTables(cache_dir)
        if directory is None:
            from faq.sources import load_all

            entries, _ = load_all(operator_dir, tables=tables)
        else:
            entries = load_entries(directory, tables=tables)
        tables.keep()
        return cls(
            entries=entries,
            thresholds=thresholds,
            params=params,
            second_look=second_look,
            cache_dir=cache_dir,
        )

    @property
    def entries(self) -> Mapping[str, Entry]:
        return self._entries

    def rank(self, question: str) -> list[Candidate]:
        """The raw ranking (best first), for tuning and diagnostics."""
        return self._retriever.rank(question)

    def signals(self, question: str) -> Signals:
        """The ranking's signals before mixing, for tuning (see :func:`faq.retrieval.mix`)."""
        return self._retriever.signals(question)

    def similarities(self, question: str) -> dict[str, float]:
        """The second look's embedding cosines, for tuning (see :func:`faq.retrieval.mix`)."""
        return self._retriever.similarities(question)

    def decide(self, question: str) -> Decision:
        """The lexical decision, and the second look's when that is not confident."""
        return self._retriever.decide(question, self.thresholds, self.second_look)

    def forget_rankings(self) -> None:
        """Drop the rankings kept for questions asked before (see :meth:`Retriever.rank`), so
        that a benchmark times the scoring, not the lookup."""
        self._retriever.forget_rankings()

    def ask(self, question: str, *, language: Lang | None = None) -> Answer:
        """Answer ``question`` in ``language`` (default: the question's own language)."""
        reply_language = language or detect_language(question)
        decision = self.decide(question)
        if decision.outcome is Outcome.CONFIDENT:
            assert decision.entry_id is not None
            entry = self._entries[decision.entry_id]
            return Answer(
                question=question,
                id=entry.id,
                best_id=entry.id,
                score=decision.score,
                outcome=decision.outcome,
                language=reply_language,
                text=entry.answer(reply_language),
                action=entry.action,
            )
        suggestions = tuple(
            Suggestion(
                candidate.entry_id,
                self._entries[candidate.entry_id].title(reply_language),
                candidate.score,
            )
            for candidate in decision.suggestions
        )
        did_you_mean = decision.outcome is Outcome.DID_YOU_MEAN
        return Answer(
            question=question,
            id=None,
            best_id=decision.best_id,
            score=decision.score,
            outcome=decision.outcome,
            language=reply_language,
            text=messages.did_you_mean([s.title for s in suggestions], reply_language)
            if did_you_mean
            else messages.not_confident(reply_language),
            action=None if did_you_mean else Action.ESCALATE,
            suggestions=suggestions,  # only "did you mean" has any
        )
