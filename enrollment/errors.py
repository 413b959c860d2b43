"""The enrollment room's errors.

Every error carries a stable machine ``code`` (the API's ``error.code``), the HTTP status the
API answers with, and a message that says what happened and what to do next::

    CertdeskError (common.errors)
    ├── LinkError
    │   ├── LinkUnknown          404 link_unknown
    │   │   └── RenewalLinkUnknown   404 link_unknown (its own advice)
    │   ├── LinkExpired          410 link_expired
    │   │   └── RenewalLinkExpired   410 link_expired (its own advice)
    │   ├── LinkUsed             410 link_used
    │   └── LinkLocked           423 link_locked
    ├── PageNotFound             404 page_not_found (a browser's request that no route serves)
    ├── EnrollmentError
    │   ├── EnrollmentNotFound   404 enrollment_not_found
    │   ├── EnrollmentLocked     423 enrollment_locked
    │   ├── WrongCredentials     403 wrong_credentials
    │   ├── CredentialsRefused   401 credentials_refused (EST: no attempts count, no hint
    │   │                            whether the reference number exists)
    │   ├── EnrollmentNotPending 409 enrollment_not_pending
    │   └── CodeNotDerivable     409 code_not_derivable
    ├── VerificationFailed       403 wrong_verification_code
    ├── AuthenticationRequired   401 authentication_required (EST: HTTP Basic missing)
    ├── ClientCertificateRequired 401 client_certificate_required (EST re-enrollment)
    ├── ClientCertificateMalformed 400 client_certificate_malformed (trusted proxy's header)
    ├── SubjectMismatch          400 subject_mismatch (EST re-enrollment for another subject)
    ├── RequestInvalid           400 request_invalid / 413 request_too_large
    │   ├── UnsupportedMediaType 415 unsupported_media_type
    │   ├── PasswordInvalid      400 password_invalid
    │   └── RevocationReasonInvalid 400 revocation_reason_invalid
    ├── CsrError
    │   ├── CsrMalformed         400 csr_malformed
    │   ├── CsrSignatureInvalid  400 csr_signature_invalid
    │   └── KeyNotAllowed        400 key_not_allowed
    ├── PolicyError              403 policy_forbidden
    ├── CertificateNotFound      404 certificate_not_found
    ├── CertificateNotActive     409 certificate_not_active
    └── StorageUnavailable       503 database_unavailable (nothing was changed)
        ├── StorageFull          503 disk_full (the database's disk is full)
        └── StorageDamaged       503 database_damaged (the file is damaged or no database)
"""

from __future__ import annotations

from common.errors import CertdeskError


class LinkError(CertdeskError):
    pass


class LinkUnknown(LinkError, code="link_unknown", status=404):
    message = (
        "This link is not known. Check that you copied the whole link, or ask for a new one: in "
        'Slack, ask the certdesk bot ("Download my certificate"); outside Slack, at /link with '
        "your reference number and the e-mail address your RA registered."
    )


class RenewalLinkUnknown(LinkUnknown):
    """An unknown renewal link: the same code, other advice (``link_unknown.renew``)."""

    case = "renew"
    message = (
        "This renewal link is not known. Check that you copied the whole link, or ask for a new "
        'one: in Slack, ask the certdesk bot ("Renew"); outside Slack, ask your RA staff.'
    )


class LinkExpired(LinkError, code="link_expired", status=410):
    message = (
        "This link has expired. Ask for a new one: in Slack, ask the certdesk bot "
        '("Download my certificate"); outside Slack, at /link with your reference number and '
        "the e-mail address your RA registered. Your reference number stays the same."
    )


class RenewalLinkExpired(LinkExpired):
    """An expired renewal link: the same code, other advice (``GET /link`` makes download
    links only). ``case`` keys its Chinese wording (``link_expired.renew``)."""

    case = "renew"
    message = (
        "This renewal link has expired. Ask for a new one: in Slack, ask the certdesk bot "
        '("Renew"); outside Slack, ask your RA staff.'
    )


class LinkUsed(LinkError, code="link_used", status=410):
    message = (
        "This link has already been used, and each link works only once. If you did not "
        "receive your certificate, ask the certdesk bot in Slack for a new link."
    )


class LinkLocked(LinkError, code="link_locked", status=423):
    message = (
        "This link no longer works: the verification code was entered wrongly too many "
        'times. Ask the certdesk bot in Slack for a new renewal link ("Renew").'
    )


class PageNotFound(CertdeskError, code="page_not_found", status=404):
    message = (
        "There is no page at this address. If you opened a link from your RA's message, check "
        "that you copied the whole link (it is long). For a new download link: in Slack, ask "
        'the certdesk bot ("Download my certificate"); outside Slack, go to /link with your '
        "reference number and the e-mail address your RA registered."
    )


class EnrollmentError(CertdeskError):
    pass


class EnrollmentNotFound(EnrollmentError, code="enrollment_not_found", status=404): ...


class EnrollmentLocked(EnrollmentError, code="enrollment_locked", status=423):
    def __init__(self, reference_number: str) -> None:
        super().__init__(
            f"Enrollment {reference_number} is locked after too many wrong authorization codes. "
            f"Ask RA staff to unlock it (they can run `certdesk ra unlock {reference_number}` or "
            f"`/ra unlock {reference_number}`)."
        )
        self.reference_number = reference_number


class WrongCredentials(EnrollmentError, code="wrong_credentials", status=403):
    def __init__(self, attempts_left: int) -> None:
        super().__init__(
            "The reference number or authorization code is wrong. Check both against the "
            f"message from your RA; {attempts_left} attempt(s) left before the enrollment locks."
        )
        self.attempts_left = attempts_left


class CredentialsRefused(EnrollmentError, code="credentials_refused", status=401):
    """A wrong reference number / authorization code pair where the reference number alone
    names the enrollment (EST): the same answer whether or not the reference number exists."""

    def __init__(self, max_failed_attempts: int) -> None:
        super().__init__(
            "The reference number or authorization code is wrong. Check both against the "
            f"message from your RA; after {max_failed_attempts} wrong codes, this reference "
            "number is refused for 15 minutes (your one-time link keeps working)."
        )
        self.max_failed_attempts = max_failed_attempts


class EnrollmentNotPending(EnrollmentError, code="enrollment_not_pending", status=409): ...


class CodeNotDerivable(EnrollmentError, code="code_not_derivable", status=409):
    """The enrollment predates derived codes, so a protocol that needs the code (CMP) cannot
    check it; the one-time link still works."""

    def __init__(self, reference_number: str) -> None:
        super().__init__(
            f"Enrollment {reference_number} was created before certdesk supported CMP, so it "
            "cannot be used with CMP. Use its one-time download link, or ask RA staff for a "
            "new enrollment."
        )
        self.reference_number = reference_number


class VerificationFailed(CertdeskError, code="wrong_verification_code", status=403):
    def __init__(self, attempts_left: int) -> None:
        super().__init__(
            "The verification code is wrong. Use the code sent with this renewal link; "
            f"{attempts_left} attempt(s) left before the link stops working."
        )
        self.attempts_left = attempts_left


class AuthenticationRequired(CertdeskError, code="authentication_required", status=401): ...


class ClientCertificateRequired(CertdeskError, code="client_certificate_required", status=401):
    """No usable TLS client certificate (EST simplereenroll, renewal by client certificate)."""


class ClientCertificateMalformed(CertdeskError, code="client_certificate_malformed", status=400):
    """The trusted proxy's client-certificate header cannot be read."""


class SubjectMismatch(CertdeskError, code="subject_mismatch", status=400):
    """A re-enrollment CSR asks for another subject than the current certificate's."""


class RequestInvalid(CertdeskError, code="request_invalid", status=400): ...


class RequestTooLarge(RequestInvalid, code="request_too_large", status=413): ...


class UnsupportedMediaType(RequestInvalid, code="unsupported_media_type", status=415): ...


class PasswordInvalid(RequestInvalid, code="password_invalid"): ...


class RevocationReasonInvalid(RequestInvalid, code="revocation_reason_invalid"): ...


class CsrError(CertdeskError, code="csr_invalid"): ...


class CsrMalformed(CsrError, code="csr_malformed"): ...


class CsrSignatureInvalid(CsrError, code="csr_signature_invalid"): ...


class KeyNotAllowed(CsrError, code="key_not_allowed"): ...


class PolicyError(CertdeskError, code="policy_forbidden", status=403): ...


class CertificateNotFound(CertdeskError, code="certificate_not_found", status=404): ...


class CertificateNotActive(CertdeskError, code="certificate_not_active", status=409):
    @classmethod
    def not_renewable(cls, serial: str, state: str, advice: str) -> CertificateNotActive:
        """The refusal to renew a certificate in ``state`` (superseded, revoked …)."""
        return cls(
            f"Certificate {serial} is {state}; only active certificates can be renewed. {advice}"
        )


class StorageUnavailable(CertdeskError, code="database_unavailable", status=503):
    """The database cannot be reached or written (:func:`enrollment.db.storage_failure`)."""


class StorageFull(StorageUnavailable, code="disk_full"): ...


class StorageDamaged(StorageUnavailable, code="database_damaged"): ...
