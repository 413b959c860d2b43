"""The issuance hot path as plain statements: the link and its enrollment read as one row, and
the unit that records a first certificate (claim the link, claim the enrollment, the
certificate, its audit row).

On the embedded SQLite these run as plain ``sqlite3`` functions on the writer's own connection
(:meth:`enrollment.writer.GroupCommit.run`, a batch per thread hop) and on its WAL reader
(:meth:`~enrollment.writer.GroupCommit.read`). On PostgreSQL :mod:`._lean_pg` runs them as
one statement each on the plain asyncpg pool; elsewhere (a URL with query options) they run
through SQLAlchemy Core, built once here. Values are stored exactly as SQLAlchemy stores them
(:func:`sqlite_value`), so that every other reader sees the same rows. No ORM object is made.
Internal to :mod:`enrollment.services`.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col

from enrollment.db import sqlite_value
from enrollment.models import (
    AuditEvent,
    Certificate,
    Enrollment,
    EnrollmentStatus,
    OneTimeLink,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkRow:
    """What redeeming a link needs of its row."""

    id: int
    purpose: str
    used_at: datetime | None
    failed_attempts: int
    expires_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class EnrollmentRow:
    """What redeeming a link needs of its enrollment's row."""

    id: int
    reference_number: str
    authorization_code_hash: str
    status: str
    locked_at: datetime | None
    subject_cn: str
    subject_ous: list[str]
    subject_o: str | None
    profile: str
    slack_user: str | None
    email: str | None


_LINK_COLUMNS = ("id", "purpose", "used_at", "failed_attempts", "expires_at")
_ENROLLMENT_COLUMNS = (
    "id",
    "reference_number",
    "authorization_code_hash",
    "status",
    "locked_at",
    "subject_cn",
    "subject_ous",
    "subject_o",
    "profile",
    "slack_user",
    "email",
)


# -- stored values: what SQLAlchemy writes and reads on SQLite ------------------------------


def _sqlite_time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value).replace(tzinfo=UTC)


# -- reading: the link and its enrollment, one row -------------------------------------------

_SQLITE_READ = (
    "SELECT l.id, l.purpose, l.used_at, l.failed_attempts, l.expires_at,"
    " e.id, e.reference_number, e.authorization_code_hash, e.status, e.locked_at,"
    " e.subject_cn, e.subject_ous, e.subject_o, e.profile, e.slack_user, e.email"
    " FROM one_time_link AS l JOIN enrollment AS e ON e.id = l.enrollment_id"
    " WHERE l.token_hash = ?"
)
_CORE_READ = (
    select(
        *(getattr(OneTimeLink, name) for name in _LINK_COLUMNS),
        *(getattr(Enrollment, name) for name in _ENROLLMENT_COLUMNS),
    )
    .join_from(OneTimeLink, Enrollment, col(Enrollment.id) == col(OneTimeLink.enrollment_id))
    .where(col(OneTimeLink.token_hash) == bindparam("token_hash"))
)


def _rows(values: tuple[Any, ...]) -> tuple[LinkRow, EnrollmentRow]:
    split = len(_LINK_COLUMNS)
    link = LinkRow(**dict(zip(_LINK_COLUMNS, values[:split], strict=True)))
    enrollment = EnrollmentRow(**dict(zip(_ENROLLMENT_COLUMNS, values[split:], strict=True)))
    return link, enrollment


def sqlite_link_and_enrollment(
    token_hash: str,
) -> Callable[[sqlite3.Connection], tuple[LinkRow, EnrollmentRow] | None]:
    def query(connection: sqlite3.Connection) -> tuple[LinkRow, EnrollmentRow] | None:
        found = connection.execute(_SQLITE_READ, (token_hash,)).fetchone()
        if found is None:
            return None
        values = list(found)
        split = len(_LINK_COLUMNS)
        values[2] = _sqlite_time(values[2])  # used_at
        values[4] = _sqlite_time(values[4])  # expires_at
        values[split + 4] = _sqlite_time(values[split + 4])  # locked_at
        values[split + 6] = json.loads(values[split + 6] or "[]")  # subject_ous
        return _rows(tuple(values))

    return query


async def core_link_and_enrollment(
    connection: AsyncConnection, token_hash: str
) -> tuple[LinkRow, EnrollmentRow] | None:
    found = (await connection.execute(_CORE_READ, {"token_hash": token_hash})).first()
    return None if found is None else _rows(tuple(found))


# -- the unit: claim, claim, certificate, audit ---------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class FirstIssue:
    """The writes of a first certificate, as plain values (see Store.record_first)."""

    link_id: int | None
    enrollment_id: int
    now: datetime
    max_failed_attempts: int
    certificate: Mapping[str, Any]  # the certificate table's values
    audit: Mapping[str, Any]  # the audit row's values


class ClaimLost(Exception):
    """Raised in the unit when a claim finds nothing to claim: the link's (``claimed_link``,
    with its row as it is now, None if gone) or the enrollment's (``locked`` or not)."""

    def __init__(
        self, *, claimed_link: bool, link: LinkRow | None = None, locked: bool = False
    ) -> None:
        super().__init__("claim lost")
        self.claimed_link = claimed_link
        self.link = link
        self.locked = locked


_SQLITE_CLAIM_LINK = (
    "UPDATE one_time_link SET used_at = ? WHERE id = ? AND used_at IS NULL"
    " AND expires_at > ? AND failed_attempts < ? RETURNING id"
)
_SQLITE_LINK_NOW = (
    "SELECT id, purpose, used_at, failed_attempts, expires_at FROM one_time_link WHERE id = ?"
)
_SQLITE_CLAIM_ENROLLMENT = (
    "UPDATE enrollment SET status = ?, issued_at = ?, updated_at = ?, failed_attempts = 0"
    " WHERE id = ? AND status = ? AND locked_at IS NULL RETURNING id"
)
_SQLITE_LOCKED = "SELECT locked_at FROM enrollment WHERE id = ?"
_SQLITE_AUDIT = (
    "INSERT INTO audit_event (at, actor, action, target, outcome, detail) VALUES (?, ?, ?, ?, ?, ?)"
)
# The certificate's columns, as Store.sign makes its row (the others stay NULL).
CERTIFICATE_COLUMNS = (
    "serial",
    "subject",
    "issuer",
    "not_before",
    "not_after",
    "fingerprint_sha256",
    "pem",
    "key_type",
    "delivery",
    "status",
    "enrollment_id",
    "subject_cn",
    "subject_ous",
    "subject_o",
    "profile",
    "friendly_name",
    "owner_slack_user",
    "owner_email",
    "created_at",
)
_SQLITE_INSERT_CERTIFICATE = (
    "INSERT INTO certificate (serial, subject, issuer, not_before, not_after,"
    " fingerprint_sha256, pem, key_type, delivery, status, enrollment_id, subject_cn,"
    " subject_ous, subject_o, profile, friendly_name, owner_slack_user, owner_email,"
    " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def sqlite_first_issue(facts: FirstIssue) -> Callable[[sqlite3.Connection], None]:
    """The unit on the writer's ``sqlite3`` connection (in its thread)."""
    if len(facts.certificate) != len(CERTIFICATE_COLUMNS):  # a column Store.sign added
        raise ValueError(f"certificate columns {sorted(facts.certificate)} are not the insert's")
    now = sqlite_value(facts.now)
    certificate = tuple(sqlite_value(facts.certificate[name]) for name in CERTIFICATE_COLUMNS)
    audit = facts.audit
    audit_row = (
        now,
        audit["actor"],
        audit["action"],
        audit["target"],
        "ok",
        json.dumps(audit["detail"]),
    )

    def unit(connection: sqlite3.Connection) -> None:
        if facts.link_id is not None:
            claimed = connection.execute(
                _SQLITE_CLAIM_LINK, (now, facts.link_id, now, facts.max_failed_attempts)
            ).fetchone()
            if claimed is None:
                current = connection.execute(_SQLITE_LINK_NOW, (facts.link_id,)).fetchone()
                raise ClaimLost(claimed_link=True, link=_sqlite_link(current))
        claimed = connection.execute(
            _SQLITE_CLAIM_ENROLLMENT,
            (EnrollmentStatus.ISSUED.value, now, now, facts.enrollment_id, "pending"),
        ).fetchone()
        if claimed is None:
            locked = connection.execute(_SQLITE_LOCKED, (facts.enrollment_id,)).fetchone()
            raise ClaimLost(claimed_link=False, locked=locked is not None and locked[0] is not None)
        connection.execute(_SQLITE_INSERT_CERTIFICATE, certificate)
        connection.execute(_SQLITE_AUDIT, audit_row)

    return unit


def _sqlite_link(found: tuple[Any, ...] | None) -> LinkRow | None:
    if found is None:
        return None
    values = list(found)
    values[2] = _sqlite_time(values[2])
    values[4] = _sqlite_time(values[4])
    return LinkRow(**dict(zip(_LINK_COLUMNS, values, strict=True)))


_CORE_CLAIM_LINK = (
    update(OneTimeLink)
    .where(
        col(OneTimeLink.id) == bindparam("link_id"),
        col(OneTimeLink.used_at).is_(None),
        col(OneTimeLink.expires_at) > bindparam("now"),
        col(OneTimeLink.failed_attempts) < bindparam("max_failed"),
    )
    .values(used_at=bindparam("now"))
    .returning(col(OneTimeLink.id))
)
_CORE_LINK_NOW = select(*(getattr(OneTimeLink, name) for name in _LINK_COLUMNS)).where(
    col(OneTimeLink.id) == bindparam("link_id")
)
_CORE_CLAIM_ENROLLMENT = (
    update(Enrollment)
    .where(
        col(Enrollment.id) == bindparam("enrollment_id"),
        col(Enrollment.status) == EnrollmentStatus.PENDING.value,
        col(Enrollment.locked_at).is_(None),
    )
    .values(
        status=EnrollmentStatus.ISSUED.value,
        issued_at=bindparam("now"),
        updated_at=bindparam("now"),
        failed_attempts=0,
    )
    .returning(col(Enrollment.id))
)
_CORE_LOCKED = select(col(Enrollment.locked_at)).where(
    col(Enrollment.id) == bindparam("enrollment_id")
)
_CORE_INSERT_CERTIFICATE = insert(Certificate)
_CORE_INSERT_AUDIT = insert(AuditEvent)


async def core_first_issue(connection: AsyncConnection, facts: FirstIssue) -> None:
    """The unit through SQLAlchemy Core, in the caller's transaction (PostgreSQL)."""
    now = facts.now
    if facts.link_id is not None:
        params = {"link_id": facts.link_id, "now": now, "max_failed": facts.max_failed_attempts}
        if (await connection.execute(_CORE_CLAIM_LINK, params)).first() is None:
            found = (await connection.execute(_CORE_LINK_NOW, {"link_id": facts.link_id})).first()
            current = (
                None if found is None else LinkRow(**dict(zip(_LINK_COLUMNS, found, strict=True)))
            )
            raise ClaimLost(claimed_link=True, link=current)
    params = {"enrollment_id": facts.enrollment_id, "now": now}
    if (await connection.execute(_CORE_CLAIM_ENROLLMENT, params)).first() is None:
        locked = await connection.execute(_CORE_LOCKED, {"enrollment_id": facts.enrollment_id})
        raise ClaimLost(claimed_link=False, locked=locked.scalar_one_or_none() is not None)
    await connection.execute(_CORE_INSERT_CERTIFICATE, [dict(facts.certificate)])
    await connection.execute(_CORE_INSERT_AUDIT, [{**facts.audit, "at": now, "outcome": "ok"}])
