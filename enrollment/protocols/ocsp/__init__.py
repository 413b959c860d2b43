"""OCSP (RFC 6960 with the RFC 5019 profile): messages (pure), the responder, its HTTP routes."""
