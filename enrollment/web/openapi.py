"""The OpenAPI 3.0 description of the enrollment API (served at ``/api/openapi.json``).

Kept by hand next to the handlers in ``web.py``; ``tests/enrollment/test_openapi.py`` checks real
responses against it and runs schemathesis over it.
"""

from __future__ import annotations

from typing import Any

from enrollment.ca.pkcs12 import (
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    PKCS12_FORMATS,
    SERVER_KEY_TYPES,
)
from enrollment.ca.profiles import PROFILES
from enrollment.kinds import REASON_NAMES
from enrollment.services.results import CSR_DELIVERIES

JSON = "application/json"
MAX_PEM_CSR_CHARS = 16 * 1024
PKCS12 = "application/x-pkcs12"


def _text(max_length: int, description: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "string",
        "minLength": 1,
        "maxLength": max_length,
        "description": description,
        **extra,
    }


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json_body(schema: str) -> dict[str, Any]:
    return {"required": True, "content": {JSON: {"schema": _ref(schema)}}}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": _ref("Error")}}}


_ERRORS = {
    "400": _error(
        "The request is malformed: not JSON, a field missing or invalid, a bad CSR, a weak "
        "key or a short password (codes request_invalid, password_invalid, csr_malformed, "
        "csr_signature_invalid, key_not_allowed)."
    ),
    "403": _error(
        "Wrong reference number / authorization code or verification code (the response says "
        "how many attempts are left), or the profile forbids server-generated keys."
    ),
    "404": _error("The link is unknown, or (renewal) the certificate is not one of the owner's."),
    "409": _error("The enrollment was already issued, or the certificate is no longer active."),
    "410": _error("The link has expired or has already been used."),
    "413": _error("The request body is larger than 64 KiB."),
    "423": _error(
        "Locked after too many wrong codes; RA staff must unlock (or ask for a new link)."
    ),
}

_TOKEN = {
    "name": "token",
    "in": "path",
    "required": True,
    "description": "The one-time link's token (the last part of the link).",
    "schema": {"type": "string", "minLength": 1, "pattern": "^[A-Za-z0-9_-]+$"},
}
_LANGUAGE = {
    "name": "Accept-Language",
    "in": "header",
    "required": False,
    "description": "Error messages are Chinese when this prefers zh, else English.",
    "schema": {"type": "string"},
}

_FRIENDLY_NAME = {
    "Certdesk-Friendly-Name": {
        "required": True,
        "schema": {"type": "string"},
        "description": "Percent-encoded UTF-8: the name a PKCS#12 file of this certificate "
        "should carry (the page puts it into the file it builds).",
    }
}
_PKCS12_RESPONSE = {
    "description": "The new certificate, its chain and the key, in a PKCS#12 file encrypted "
    "with the password, in the request's `format` (modern by default: PBES2, "
    "PBKDF2-HMAC-SHA256, AES-256-CBC; HMAC-SHA256 MAC). The key exists nowhere else.",
    "headers": {
        "Content-Disposition": {
            "required": True,
            "schema": {"type": "string"},
            "description": 'attachment; filename="<friendly name>.p12", with the UTF-8 '
            "name in an RFC 6266 filename* when it is not ASCII (the ASCII filename= is then "
            "the fallback, e.g. certificate.p12)",
        },
        "Certdesk-Serial": {
            "required": True,
            "schema": {"type": "string", "pattern": "^[0-9a-f]+$"},
            "description": "The new certificate's serial number (hex).",
        },
        **_FRIENDLY_NAME,
        "Certdesk-Replaces": {
            "required": False,
            "schema": {"type": "string", "pattern": "^[0-9a-f]+$"},
            "description": "Renewal only: the serial of the certificate now superseded.",
        },
    },
    "content": {PKCS12: {"schema": {"type": "string", "format": "binary"}}},
}


def _post(
    *,
    summary: str,
    description: str,
    body: str,
    created: dict[str, Any],
    operation_id: str,
    query: tuple[dict[str, Any], ...] = (),
) -> dict[str, Any]:
    return {
        "post": {
            "operationId": operation_id,
            "summary": summary,
            "description": description,
            "parameters": [_TOKEN, _LANGUAGE, *query],
            "requestBody": _json_body(body),
            "responses": {"201": created, **_ERRORS},
        }
    }


def _server_key_post(operation_id: str, doing: str, body: str) -> dict[str, Any]:
    """The PKCS#12 variant of an operation: the server makes the key, the file comes back."""
    return _post(
        operation_id=operation_id,
        summary=f"{doing} with a server-generated key",
        description="Only for profiles that allow server key generation.",
        body=body,
        created=_PKCS12_RESPONSE,
        query=(_FORMAT_QUERY,),
    )


_ISSUED = {
    "description": "Issued: the certificate and the CA chain as PEM.",
    "headers": _FRIENDLY_NAME,
    "content": {JSON: {"schema": _ref("IssuedCertificate")}},
}
_RENEWED = {
    "description": "Renewed: the new certificate and the CA chain as PEM; the old one is "
    "superseded.",
    "headers": _FRIENDLY_NAME,
    "content": {JSON: {"schema": _ref("RenewedCertificate")}},
}

_CREDENTIALS = {
    "reference_number": _text(64, "The reference number from the RA (digits)."),
    "authorization_code": _text(64, "The authorization code from the RA (dashes optional)."),
}
_RENEWAL = {
    "serial": _text(128, "Serial number (hex) of the certificate to renew."),
    "verification_code": _text(64, "The verification code sent with the renewal link."),
}
# PEM is ASCII; 16 KiB of it (even JSON-escaped) stays inside the 64 KiB body limit.
_CSR = _text(
    MAX_PEM_CSR_CHARS,
    "A PKCS#10 request, PEM. Its subject and extensions are ignored.",
    pattern=r"^[\t\n\r -~]+$",
)
_PASSWORD = {
    "type": "string",
    "minLength": MIN_PASSWORD_LENGTH,
    "maxLength": MAX_PASSWORD_LENGTH,
    "description": "Password that encrypts the PKCS#12 file.",
}
_KEY_TYPE = {"type": "string", "enum": list(SERVER_KEY_TYPES), "default": "ec-p256"}
_FORMAT = {
    "type": "string",
    "enum": list(PKCS12_FORMATS),
    "default": "modern",
    "description": "modern: PBES2 (PBKDF2-HMAC-SHA256, 100,000 iterations, AES-256-CBC) and an "
    "HMAC-SHA256 MAC, which OpenSSL 3, NSS, Java and Windows 10 1709 or later read. "
    "compatible: pbeWithSHAAnd3-KeyTripleDES-CBC and an HMAC-SHA1 MAC, 2,048 iterations, as "
    "`openssl pkcs12 -legacy` writes, for macOS Keychain and older Windows.",
}


_FORMAT_QUERY = {
    "name": "format",
    "in": "query",
    "required": False,
    "schema": {"type": "string", "enum": list(PKCS12_FORMATS)},
    "description": "The PKCS#12 format, as the body's `format` (which wins when both are given).",
}


def _delivery(description: str, *, default: str | None = None) -> dict[str, Any]:
    """The deliveries a CSR-based request may claim (browser, csr, token)."""
    schema: dict[str, Any] = {"type": "string", "enum": [d.value for d in CSR_DELIVERIES]}
    if default is not None:
        schema["default"] = default
    return {**schema, "description": description}


def _object(required: list[str], properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": properties}


SCHEMAS: dict[str, Any] = {
    "Error": _object(
        ["error"],
        {
            "error": _object(
                ["code", "message"],
                {
                    "code": {"type": "string", "description": "Stable machine code."},
                    "message": {
                        "type": "string",
                        "description": "What happened and what to do next.",
                    },
                },
            )
        },
    ),
    "EnrollRequest": _object(
        ["reference_number", "authorization_code", "csr"],
        {
            **_CREDENTIALS,
            "csr": _CSR,
            "delivery": _delivery(
                "Where the key lives; a renewal delivers the same way.", default="csr"
            ),
        },
    ),
    "ServerKeyEnrollRequest": _object(
        ["reference_number", "authorization_code", "password"],
        {**_CREDENTIALS, "password": _PASSWORD, "key_type": _KEY_TYPE, "format": _FORMAT},
    ),
    "RenewRequest": _object(
        ["serial", "verification_code", "csr"],
        {
            **_RENEWAL,
            "csr": _CSR,
            "delivery": _delivery("Defaults to how the old certificate was delivered."),
        },
    ),
    "ServerKeyRenewRequest": _object(
        ["serial", "verification_code", "password"],
        {**_RENEWAL, "password": _PASSWORD, "key_type": _KEY_TYPE, "format": _FORMAT},
    ),
    "IssuedCertificate": {
        **_object(
            ["certificate", "chain", "serial", "not_after"],
            {
                "certificate": {"type": "string", "description": "The certificate, PEM."},
                "chain": {"type": "string", "description": "Issuing CA, then root, PEM."},
                "serial": {"type": "string", "pattern": "^[0-9a-f]+$"},
                "not_after": {"type": "string", "format": "date-time"},
            },
        ),
        "additionalProperties": False,
    },
    "RenewedCertificate": _object(
        ["certificate", "chain", "serial", "not_after", "replaces", "friendly_name", "delivery"],
        {
            "certificate": {"type": "string", "description": "The certificate, PEM."},
            "chain": {"type": "string", "description": "Issuing CA, then root, PEM."},
            "serial": {"type": "string", "pattern": "^[0-9a-f]+$"},
            "not_after": {"type": "string", "format": "date-time"},
            "replaces": {
                "type": "string",
                "pattern": "^[0-9a-f]+$",
                "description": "The serial now superseded.",
            },
            "friendly_name": {"type": "string", "nullable": True},
            "delivery": {"type": "string", "enum": ["browser", "csr", "token", "server"]},
        },
    ),
}


_EST_LABEL = {
    "name": "label",
    "in": "path",
    "required": True,
    "description": "A profile name: the enrollment must have this profile (RFC 7030 §3.2.2).",
    "schema": {"type": "string", "enum": sorted(PROFILES)},
}
_BASE64_PKCS7 = {
    "type": "string",
    "description": "Base64 (76-character lines) of a DER certs-only PKCS#7 (RFC 7030 §4.1.3).",
}


def _with_label(operation: dict[str, Any]) -> dict[str, Any]:
    """The same EST operation under ``/.well-known/est/{label}/…``: the label and its 404."""
    ((verb, spec),) = operation.items()
    return {
        verb: {
            **spec,
            "operationId": spec["operationId"] + "Labelled",
            "parameters": [_EST_LABEL, *spec["parameters"]],
            "responses": {**spec["responses"], "404": _error("The label is not a profile name.")},
        }
    }


_EST_CACERTS = {
    "get": {
        "operationId": "estCacerts",
        "summary": "EST: the CA certificates",
        "parameters": [],
        "responses": {
            "200": {
                "description": "The CA chain (issuing CA and root), certs-only PKCS#7, base64.",
                "content": {"application/pkcs7-mime": {"schema": _BASE64_PKCS7}},
            }
        },
    }
}


_EST_SIMPLEENROLL_RESPONSES = {
    "200": {
        "description": "The issued certificate alone, certs-only PKCS#7, base64 "
        "(Content-Type application/pkcs7-mime; smime-type=certs-only).",
        "content": {"application/pkcs7-mime": {"schema": _BASE64_PKCS7}},
    },
    "400": _error(
        "The body is not a usable CSR (csr_malformed, csr_signature_invalid, key_not_allowed)."
    ),
    "401": _error(
        "No usable HTTP Basic credentials (authentication_required), or the reference "
        "number or authorization code is wrong (credentials_refused: the same answer for "
        "an unknown reference number). Comes with WWW-Authenticate: Basic."
    ),
    "403": _error("The label names another profile than the enrollment's."),
    "409": _error("The enrollment was already issued (by EST or through its link)."),
    "413": _error("The request body is larger than 64 KiB."),
    "415": _error("The Content-Type is not application/pkcs10."),
    "423": _error("Locked after too many wrong codes: RA staff run `certdesk ra unlock REF`."),
}
_EST_SIMPLEENROLL = {
    "post": {
        "operationId": "estSimpleenroll",
        "summary": "EST: enroll with a CSR (user = reference number, password = code)",
        "description": "The subject comes from the enrollment, never from the CSR. An "
        "enrollment is issued once; its one-time links stop working afterwards.",
        "parameters": [_LANGUAGE],
        "security": [{"estBasic": []}],
        "requestBody": {
            "required": True,
            "content": {
                "application/pkcs10": {
                    "schema": {
                        "type": "string",
                        "description": "Base64 of the DER PKCS#10 (line breaks allowed); a "
                        "PEM block is accepted too.",
                    }
                }
            },
        },
        "responses": _EST_SIMPLEENROLL_RESPONSES,
    }
}


EST_PATHS: dict[str, Any] = {
    "/.well-known/est/cacerts": _EST_CACERTS,
    "/.well-known/est/{label}/cacerts": _with_label(_EST_CACERTS),
    "/.well-known/est/simpleenroll": _EST_SIMPLEENROLL,
    "/.well-known/est/{label}/simpleenroll": _with_label(_EST_SIMPLEENROLL),
    "/.well-known/est/csrattrs": {
        "get": {
            "operationId": "estCsrattrs",
            "summary": "EST: CSR attributes (none are required)",
            "responses": {"204": {"description": "No attributes: the enrollment decides."}},
        }
    },
}


# -- renewal by possession (`certdesk token renew`): no link, the current key signs ------------

_CERTIFICATE = _text(
    MAX_PEM_CSR_CHARS,
    "The current certificate (PEM), as stored on the USB key.",
    pattern=r"^[\t\n\r -~]+$",
)
_POSSESSION_ERRORS = {
    "400": _ERRORS["400"],
    "403": _error(
        "The challenge is unknown, used, expired or for another certificate "
        "(challenge_invalid), the signature does not prove possession of the current key "
        "(possession_not_proven), or the certificate is not on a USB key / not yet inside "
        "the renewal window (policy_forbidden)."
    ),
    "404": _error("The certificate was not issued by this certdesk."),
    "409": _error("The certificate is superseded, revoked or expired."),
    "413": _ERRORS["413"],
    "429": _error("Too many challenges asked for from this address; wait (Retry-After)."),
}
SCHEMAS["RenewalChallengeRequest"] = _object(["certificate"], {"certificate": _CERTIFICATE})
SCHEMAS["RenewalChallenge"] = {
    **_object(
        ["challenge", "expires_at"],
        {
            "challenge": {
                "type": "string",
                "pattern": "^[A-Za-z0-9_-]+$",
                "description": "Works once, for this certificate, for 5 minutes.",
            },
            "expires_at": {"type": "string", "format": "date-time"},
        },
    ),
    "additionalProperties": False,
}
SCHEMAS["PossessionRenewRequest"] = _object(
    ["csr"],  # certificate, challenge and signature too, unless a TLS client certificate
    {
        "certificate": _CERTIFICATE,
        "csr": {**_CSR, "description": "The new key's PKCS#10 request (a NEW key), PEM."},
        "challenge": _text(128, "From /api/v1/renew-challenge.", pattern="^[A-Za-z0-9_-]+$"),
        "signature": _text(
            2048,
            "Base64 signature by the CURRENT certificate's key over: the bytes "
            "'certdesk renewal by possession v1' and a zero byte, the challenge (ASCII) and a "
            "zero byte, SHA-256 of the certificate's DER, SHA-256 of the CSR's DER. ECDSA with "
            "SHA-256 (SHA-384 for P-384) as DER, RSA PKCS#1 v1.5 with SHA-256, or Ed25519.",
            pattern="^[A-Za-z0-9+/=]+$",
        ),
    },
)
POSSESSION_PATHS: dict[str, Any] = {
    "/api/v1/renew-challenge": {
        "post": {
            "operationId": "renewChallenge",
            "summary": "A challenge for renewing a USB-key certificate without a link",
            "description": "Only active, unexpired certificates of this CA that were delivered "
            "to a USB key get one.",
            "parameters": [_LANGUAGE],
            "requestBody": _json_body("RenewalChallengeRequest"),
            "responses": {
                "201": {
                    "description": "The challenge.",
                    "content": {JSON: {"schema": _ref("RenewalChallenge")}},
                },
                **_POSSESSION_ERRORS,
            },
        }
    },
    "/api/v1/renew": {
        "post": {
            "operationId": "renewByPossession",
            "summary": "Renew a USB-key certificate by proving possession of its key",
            "description": "Uses up the challenge; same subject, profile and friendly name; "
            "the old certificate is marked superseded. Over certdesk's own TLS (or through a "
            "proxy the operator trusts), the current certificate as the TLS client certificate "
            "stands in for the signed challenge: send only the csr (any certificate, as long "
            "as it is active and issued here, not only USB-key ones).",
            "parameters": [_LANGUAGE],
            "requestBody": _json_body("PossessionRenewRequest"),
            "responses": {
                "201": _RENEWED,
                "401": _error(
                    "No proof of the current key: neither a TLS client certificate nor "
                    "certificate, challenge and signature (client_certificate_required)."
                ),
                **_POSSESSION_ERRORS,
            },
        }
    },
}


def openapi_document(public_url: str) -> dict[str, Any]:
    """The API description, with ``public_url`` as its server."""
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "certdesk enrollment API",
            "version": "1",
            "description": "One-time links redeem certificates: with a CSR, or with a key the "
            "server generates (profile permitting). EST (RFC 7030) enrolls with the reference "
            "number and authorization code as HTTP Basic credentials; "
            "/.well-known/est/simplereenroll renews with the TLS client certificate. Errors are "
            '{"error": {"code", "message"}} with a 4xx status.',
        },
        "servers": [{"url": public_url}],
        "paths": {
            "/api/v1/enroll/{token}": _post(
                operation_id="enroll",
                summary="Redeem an enrollment link with a CSR",
                description="Checks the link, the reference number and authorization code "
                "(wrong ones count; the enrollment locks after the limit) and the CSR.",
                body="EnrollRequest",
                created=_ISSUED,
            ),
            "/api/v1/enroll/{token}/pkcs12": _server_key_post(
                "enrollPkcs12", "Redeem an enrollment link", "ServerKeyEnrollRequest"
            ),
            "/api/v1/renew/{token}": _post(
                operation_id="renew",
                summary="Renew a certificate with a new CSR",
                description="Same subject, profile and friendly name; the old certificate is "
                "marked superseded.",
                body="RenewRequest",
                created=_RENEWED,
            ),
            "/api/v1/renew/{token}/pkcs12": _server_key_post(
                "renewPkcs12", "Renew a certificate", "ServerKeyRenewRequest"
            ),
            **POSSESSION_PATHS,
            "/api/openapi.json": {
                "get": {
                    "operationId": "openapi",
                    "summary": "This description",
                    "responses": {
                        "200": {
                            "description": "OpenAPI 3.0 document.",
                            "content": {JSON: {"schema": {"type": "object"}}},
                        }
                    },
                }
            },
            "/ca.pem": {
                "get": {
                    "operationId": "caChain",
                    "summary": "The CA chain (issuing CA, then root), PEM",
                    "responses": {
                        "200": {
                            "description": "PEM certificates.",
                            "content": {"application/x-pem-file": {"schema": {"type": "string"}}},
                        }
                    },
                }
            },
            "/crl": {
                "get": {
                    "operationId": "crl",
                    "summary": "The current CRL (DER), signed by the issuing CA",
                    "description": "Named in every certificate's CRL distribution point; "
                    "re-signed on every revocation and before nextUpdate. Reasons: "
                    + ", ".join(REASON_NAMES)
                    + ".",
                    "responses": {
                        "200": {
                            "description": "DER CRL.",
                            "content": {
                                "application/pkix-crl": {
                                    "schema": {"type": "string", "format": "binary"}
                                }
                            },
                        }
                    },
                }
            },
            **EST_PATHS,
        },
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "estBasic": {
                    "type": "http",
                    "scheme": "basic",
                    "description": "User name: the reference number; password: the "
                    "authorization code.",
                }
            },
        },
    }
