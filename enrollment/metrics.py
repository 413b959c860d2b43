"""Prometheus counters of the enrollment room (registered on the default registry)."""

from prometheus_client import Counter

CERTIFICATES_ISSUED = Counter(
    "certdesk_certificates_issued", "Certificates issued", ["profile", "delivery"]
)
ENROLLMENT_FAILURES = Counter(
    "certdesk_enrollment_failures", "Refused enrollment or renewal requests", ["code"]
)
ENROLLMENTS_CREATED = Counter("certdesk_enrollments_created", "Enrollments created by RA staff")
CERTIFICATES_RENEWED = Counter(
    "certdesk_certificates_renewed", "Certificates renewed", ["delivery"]
)
CERTIFICATES_REVOKED = Counter("certdesk_certificates_revoked", "Certificates revoked", ["reason"])
