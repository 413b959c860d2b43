"""Editing an entry file as text, keeping its comments and layout (``certdesk faq teach``).

Pure: TOML text in, TOML text out (tomlkit keeps what tomllib would lose). The caller reads and
writes the file.
"""

from __future__ import annotations

import tomlkit
from tomlkit.exceptions import TOMLKitError
from tomlkit.items import Array, Table

from common.language import Lang
from faq.errors import EntryInvalid
from faq.knowledge import parse_entry


def with_example(source: str, content: str, *, language: Lang, question: str) -> str:
    """``content`` with ``question`` appended to ``[language].questions`` (added if missing).

    The result is validated as an entry; an entry that already has the question is returned as it
    is.
    """
    text = " ".join(question.split())
    if not text:
        raise EntryInvalid(source, "the question to add is empty")
    try:
        document = tomlkit.parse(content)
    except TOMLKitError as error:
        raise EntryInvalid(source, f"not valid TOML: {error}") from error
    table = document.get(language)
    if not isinstance(table, Table):
        raise EntryInvalid(
            source, f"has no [{language}] table to add a {language} question to: write one first"
        )
    questions = table.get("questions")
    if not isinstance(questions, Array):
        raise EntryInvalid(source, f"[{language}] questions must be a list of strings")
    if any(str(existing).casefold() == text.casefold() for existing in questions):
        return content
    questions.append(text)
    if questions.as_string().count("\n") > 0:
        questions.multiline(True)
    result = tomlkit.dumps(document)
    parse_entry(source, result, allow_untranslated=True)  # still a valid entry
    return result
