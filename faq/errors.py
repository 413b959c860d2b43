"""The knowledge room's errors, under certdesk's one error root.

Every error carries a stable machine ``code`` and a message that says what happened and what to
do next (English; the Chinese wording lives in :mod:`faq.messages`)::

    CertdeskError (common.errors)
    └── FaqError                  faq_error
        ├── EntryInvalid          entry_invalid       a knowledge entry file is malformed
        ├── KnowledgeDirMissing   knowledge_dir_missing  the operator entries' directory is absent
        ├── EmbeddingUnavailable  embedding_unavailable  the second look's model cannot be loaded
        └── InspectionError
            ├── NotACertificate   not_a_certificate   the bytes hold no certificate we can read
            ├── PasswordRequired  password_required   a PKCS#12 file needs its password
            └── WrongPassword     wrong_password      the PKCS#12 password does not open the file
"""

from __future__ import annotations

from pathlib import Path

from common.errors import CertdeskError


class FaqError(CertdeskError, code="faq_error"):
    """Base of every error raised by the knowledge room."""


class EntryInvalid(FaqError, code="entry_invalid"):
    """A knowledge entry file cannot be used; ``source`` names the file and ``line`` (1-based, when
    known) the line where the problem is. The message is one line: ``file:line: what is wrong``."""

    def __init__(self, source: Path | str, problem: str, *, line: int | None = None) -> None:
        problem = " ".join(problem.split())  # one line, whatever the parser said
        where = f"{source}:{line}" if line is not None else str(source)
        super().__init__(f"knowledge entry {where}: {problem}")
        self.source = str(source)
        self.line = line
        self.problem = problem


class KnowledgeDirMissing(FaqError, code="knowledge_dir_missing"):
    """The directory of operator entries does not exist (or is not a directory)."""

    def __init__(self, path: Path | str) -> None:
        super().__init__(f"the knowledge directory {path} does not exist or is not a directory")
        self.path = str(path)


class EmbeddingUnavailable(FaqError, code="embedding_unavailable"):
    """The sentence embedding of the second look cannot be loaded (its package is missing or
    damaged); the knowledge base then answers from the lexical ranking alone."""

    def __init__(self, reason: str) -> None:
        super().__init__(
            "the knowledge base's second look is off: its sentence embedding cannot be loaded "
            f"({reason}); reinstall certdesk's dependencies (scripts/setup) to turn it back on"
        )
        self.reason = reason


class InspectionError(FaqError):
    """The certificate inspector could not read the given bytes."""


class NotACertificate(InspectionError, code="not_a_certificate"):
    """Not PEM, DER, PKCS#7 or PKCS#12 certificate data; ``detail`` says what was found."""

    def __init__(self, detail: str) -> None:
        super().__init__(
            f"This file is not a certificate ({detail}). Send a .cer, .crt, .pem, .der, .p7b "
            "or .p12 file."
        )
        self.detail = detail


class PasswordRequired(InspectionError, code="password_required"):
    """A PKCS#12 file was given without its password."""

    message = "This is a password-protected PKCS#12 (.p12/.pfx) file: give its password to read it."


class WrongPassword(InspectionError, code="wrong_password"):
    """The password does not open the PKCS#12 file."""

    message = "The password does not open this PKCS#12 (.p12/.pfx) file. Check it and try again."
