"""The knowledge room: answers in English and Chinese with a confidence threshold, and the
certificate inspector.

    >>> from faq import KnowledgeBase
    >>> kb = KnowledgeBase.load()
    >>> answer = kb.ask("How do I renew my certificate?")
    >>> answer.id, answer.action
    ('renewal', <Action.RENEW: 'renew'>)

Imports no other room; reads no environment; does no I/O beyond loading its own entry files.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from faq.errors import (
        EntryInvalid,
        FaqError,
        InspectionError,
        NotACertificate,
        PasswordRequired,
        WrongPassword,
    )
    from faq.inspector import CertificateInfo, ContainerFormat, Inspection, inspect_certificates
    from faq.knowledge import REQUIRED_IDS, Action, Answer, Entry, KnowledgeBase, Suggestion
    from faq.render import render_inspection
    from faq.retrieval import Outcome, Thresholds

# Each name is imported from its module on first use, so a process that inspects a certificate
# does not load the knowledge base's retrieval, and one that answers does not load the inspector.
_HOMES = {
    "faq.errors": (
        "EntryInvalid",
        "FaqError",
        "InspectionError",
        "NotACertificate",
        "PasswordRequired",
        "WrongPassword",
    ),
    "faq.inspector": ("CertificateInfo", "ContainerFormat", "Inspection", "inspect_certificates"),
    "faq.knowledge": ("REQUIRED_IDS", "Action", "Answer", "Entry", "KnowledgeBase", "Suggestion"),
    "faq.render": ("render_inspection",),
    "faq.retrieval": ("Outcome", "Thresholds"),
}
_HOME_OF = {name: module for module, names in _HOMES.items() for name in names}


def __getattr__(name: str) -> Any:
    if name not in _HOME_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(_HOME_OF[name]), name)
    globals()[name] = value
    return value


__all__ = [
    "REQUIRED_IDS",
    "Action",
    "Answer",
    "CertificateInfo",
    "ContainerFormat",
    "Entry",
    "EntryInvalid",
    "FaqError",
    "Inspection",
    "InspectionError",
    "KnowledgeBase",
    "NotACertificate",
    "Outcome",
    "PasswordRequired",
    "Suggestion",
    "Thresholds",
    "WrongPassword",
    "inspect_certificates",
    "render_inspection",
]
