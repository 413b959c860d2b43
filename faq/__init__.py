"""The knowledge room: answers in English and Chinese with a confidence threshold, and the
certificate inspector.

    >>> from faq import KnowledgeBase
    >>> kb = KnowledgeBase.load()
    >>> answer = kb.ask("How do I renew my certificate?")
    >>> answer.id, answer.action
    ('renewal', <Action.RENEW: 'renew'>)

Imports no other room; reads no environment; does no I/O beyond loading its own entry files.
"""

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
