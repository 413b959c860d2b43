"""What the USB-key client says to the holder, in English and Chinese (a message catalogue).

``certdesk token`` and ``certdesk-usbkey`` print these; the language follows ``--lang`` or the
system locale. The texts are in ``messages.toml`` beside this module. Errors the client raises
on purpose take their words from it by their ``code``, filled with the values they carry
(``TokenError.params``); the server's refusals come already in the language asked for (the
client sends it as Accept-Language).
"""

from __future__ import annotations

from common.language import Catalogue

MESSAGES = Catalogue("usbkey")
TEXTS = MESSAGES.group("text")
"""What the client prints: progress, prompts, results, listings."""
ERRORS = MESSAGES.group("error")
"""The client's errors, by error code: their English message and its Chinese wording."""
