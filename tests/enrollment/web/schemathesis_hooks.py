"""schemathesis hooks of ``test_openapi.py``: EST's ``application/pkcs10`` bodies are text."""

from __future__ import annotations

import schemathesis

schemathesis.serializer.alias("application/pkcs10", "text/plain")
