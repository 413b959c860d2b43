"""The shared kernel every room may import: one of each thing, pure, standard library only.

* :mod:`common.errors` — :class:`~common.errors.CertdeskError`, the one error root.
* :mod:`common.language` — the one language type, its detection rule, the Accept-Language
  negotiation and Slack's locale mapping.
* :mod:`common.time` — aware UTC ``utcnow`` and the one "days left" rule (rounded up).
* :mod:`common.links` — the one-time links' URL shape (built and parsed) and the API's
  friendly-name header.
"""
