"""The issuance hot path on PostgreSQL as two plain statements on the lean asyncpg pool
(:mod:`enrollment.pg`): the link and its enrollment read as one row, and the first issue
(claim the link, claim the enrollment, insert the certificate and its audit row) as one
data-modifying statement.

The unit locks the enrollment's row and the link's (``FOR UPDATE``: a racing redemption waits,
then finds them claimed), and writes only when both are claimable, so a lost claim writes
nothing. It is idempotent by the certificate's serial: run again after its connection died (it
may have committed), it finds its certificate and reports it recorded. Values are stored as
SQLAlchemy stores them (JSON text, aware UTC timestamps), so every other reader sees the same
rows. Internal to :mod:`enrollment.services`.
"""

from __future__ import annotations

import json
from enum import Enum
from typing import Any

from enrollment.pg import LeanPostgres
from enrollment.services._lean import (
    _ENROLLMENT_COLUMNS,
    _LINK_COLUMNS,
    CERTIFICATE_COLUMNS,
    ClaimLost,
    EnrollmentRow,
    FirstIssue,
    LinkRow,
)

_READ = (
    "SELECT l.id, l.purpose, l.used_at, l.failed_attempts, l.expires_at,"
    " e.id, e.reference_number, e.authorization_code_hash, e.status, e.locked_at,"
    " e.subject_cn, e.subject_ous, e.subject_o, e.profile, e.slack_user, e.email"
    " FROM one_time_link AS l JOIN enrollment AS e ON e.id = l.enrollment_id"
    " WHERE l.token_hash = $1"
)


def _rows(values: list[Any]) -> tuple[LinkRow, EnrollmentRow]:
    split = len(_LINK_COLUMNS)
    values[split + 6] = json.loads(values[split + 6] or "[]")  # subject_ous (json)
    link = LinkRow(**dict(zip(_LINK_COLUMNS, values[:split], strict=True)))
    enrollment = EnrollmentRow(**dict(zip(_ENROLLMENT_COLUMNS, values[split:], strict=True)))
    return link, enrollment


async def link_and_enrollment(
    pool: LeanPostgres, token_hash: str
) -> tuple[LinkRow, EnrollmentRow] | None:
    found = await pool.fetchrow(_READ, token_hash)
    return None if found is None else _rows(list(found))


# $1 link id (NULL: no link), $2 enrollment id, $3 now, $4 max failed attempts, $5-$23 the
# certificate (CERTIFICATE_COLUMNS, in order; $5 its serial), $24-$27 the audit row's actor,
# action, target, detail. INSERT … SELECT infers no type from its target: hence the casts.
_FIRST_ISSUE = """
WITH enrollment_row AS MATERIALIZED (
    SELECT id FROM enrollment
    WHERE id = $2 AND status = 'pending' AND locked_at IS NULL
    FOR UPDATE
), link_row AS MATERIALIZED (
    SELECT id FROM one_time_link
    WHERE id = $1::integer AND used_at IS NULL AND expires_at > $3 AND failed_attempts < $4
    FOR UPDATE
), claimable AS MATERIALIZED (
    SELECT 1 AS yes
    WHERE EXISTS (SELECT 1 FROM enrollment_row)
      AND ($1::integer IS NULL OR EXISTS (SELECT 1 FROM link_row))
), claimed_link AS (
    UPDATE one_time_link SET used_at = $3
    WHERE id IN (SELECT id FROM link_row) AND EXISTS (SELECT 1 FROM claimable)
    RETURNING id
), claimed_enrollment AS (
    UPDATE enrollment
    SET status = 'issued', issued_at = $3, updated_at = $3, failed_attempts = 0
    WHERE id IN (SELECT id FROM enrollment_row) AND EXISTS (SELECT 1 FROM claimable)
    RETURNING id
), certificate_row AS (
    INSERT INTO certificate (serial, subject, issuer, not_before, not_after,
        fingerprint_sha256, pem, key_type, delivery, status, enrollment_id, subject_cn,
        subject_ous, subject_o, profile, friendly_name, owner_slack_user, owner_email,
        created_at)
    SELECT $5::varchar, $6::varchar, $7::varchar, $8::timestamptz, $9::timestamptz,
        $10::varchar, $11::text, $12::varchar, $13::varchar, $14::varchar, $15::integer,
        $16::varchar, $17::json, $18::varchar, $19::varchar, $20::varchar, $21::varchar,
        $22::varchar, $23::timestamptz
    FROM claimable
    RETURNING id
), audit_row AS (
    INSERT INTO audit_event (at, actor, action, target, outcome, detail)
    SELECT $3, $24::varchar, $25::varchar, $26::varchar, 'ok', $27::json FROM claimable
    RETURNING id
)
SELECT EXISTS (SELECT 1 FROM certificate_row) AS issued,
       EXISTS (SELECT 1 FROM certificate WHERE serial = $5) AS recorded_before
"""
# What each new pooled connection runs once, every parameter NULL (no row matches).
WARM = (_READ, _FIRST_ISSUE)
_LINK_NOW = (
    "SELECT id, purpose, used_at, failed_attempts, expires_at FROM one_time_link WHERE id = $1"
)
_LOCKED = "SELECT locked_at FROM enrollment WHERE id = $1"


def _value(value: Any) -> Any:
    """``value`` as SQLAlchemy binds it on PostgreSQL: JSON as text, enums as their value,
    aware datetimes as they are (``timestamptz``)."""
    if isinstance(value, list | dict):
        return json.dumps(value)
    if isinstance(value, Enum):
        return value.value
    return value


def first_issue_args(facts: FirstIssue) -> tuple[Any, ...]:
    if len(facts.certificate) != len(CERTIFICATE_COLUMNS):  # a column Store.sign added
        raise ValueError(f"certificate columns {sorted(facts.certificate)} are not the insert's")
    certificate = [_value(facts.certificate[name]) for name in CERTIFICATE_COLUMNS]
    audit = facts.audit
    return (
        facts.link_id,
        facts.enrollment_id,
        facts.now,
        facts.max_failed_attempts,
        *certificate,
        audit["actor"],
        audit["action"],
        audit["target"],
        json.dumps(audit["detail"]),
    )


async def first_issue(pool: LeanPostgres, facts: FirstIssue) -> None:
    """The unit as one statement, committed when this returns; :class:`ClaimLost` (nothing
    written) when the link or the enrollment was no longer claimable."""
    outcome = await pool.fetchrow(_FIRST_ISSUE, *first_issue_args(facts))
    assert outcome is not None
    if outcome["issued"] or outcome["recorded_before"]:
        return
    if facts.link_id is not None:
        found = await pool.fetchrow(_LINK_NOW, facts.link_id)
        link = None if found is None else LinkRow(**dict(zip(_LINK_COLUMNS, found, strict=True)))
        if (
            link is None
            or link.used_at is not None
            or link.expires_at <= facts.now
            or (link.failed_attempts >= facts.max_failed_attempts)
        ):
            raise ClaimLost(claimed_link=True, link=link)
    locked = await pool.fetchrow(_LOCKED, facts.enrollment_id)
    raise ClaimLost(claimed_link=False, locked=locked is not None and locked[0] is not None)
