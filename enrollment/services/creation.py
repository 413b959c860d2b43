"""Creating enrollments: what RA staff give (:class:`EnrollmentCreate`, validated at
construction), the rows one enrollment is made of (its own, its audit row, its first one-time
link) drawn with fresh codes, and the one way they are stored, all of a batch in one unit
(:func:`create_enrollments`, called by :class:`~enrollment.services.ra.RaOperations` and by
``certdesk ra issue`` on the embedded database).

This module loads no SQLAlchemy: on an embedded database file the unit is plain ``sqlite3``
(:func:`sqlite_unit`, run by :meth:`enrollment.writer.GroupCommit.run`), storing values exactly
as SQLAlchemy does (:func:`enrollment.db.sqlite_value`); elsewhere
:mod:`enrollment.services.ra` inserts the same values through SQLAlchemy Core.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from common.language import Lang
from common.links import LinkKind, link_url
from common.time import utcnow
from enrollment import codes
from enrollment.ca.profiles import get_profile
from enrollment.db import sqlite_value
from enrollment.kinds import EnrollmentStatus, LinkPurpose, Notify
from enrollment.services.config import EnrollmentConfig

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# C0 and C1 controls, DEL, and the Unicode line and paragraph separators.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
TRIES = 10  # fresh reference numbers drawn before giving up


def _ascii_email(value: str) -> str:
    """``value`` as a certificate can carry it (RFC 5280 rfc822Name: ASCII), the domain's
    U-labels turned into A-labels (``bü.example`` -> ``xn--b-xka.example``)."""
    local, _, domain = value.rpartition("@")
    problem = f"{value!r} cannot go into a certificate"
    if not local.isascii() or _CONTROL.search(value):
        raise ValueError(
            f"{problem}: the part before the @ must be plain ASCII (RFC 5280). Use the "
            "holder's ASCII address."
        )
    try:
        ascii_domain = domain.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise ValueError(
            f"{problem}: the domain is not a valid internationalized domain name. Use the "
            "holder's ASCII address."
        ) from None
    return f"{local}@{ascii_domain}"


def _no_controls(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError(
            "must not contain line breaks or other control characters; type the name on one line"
        )
    return value


class EnrollmentCreate(BaseModel):
    """What RA staff give to create an enrollment. Validated at construction."""

    cn: str = Field(min_length=1, max_length=64)
    ous: list[str] = Field(default_factory=list, max_length=8)
    o: str | None = Field(default=None, max_length=64)
    email: str | None = Field(default=None, max_length=254)
    slack_user: str | None = Field(default=None, max_length=32)
    profile: str = "client"
    notify: Notify | None = None
    """How the holder is told of links: unset = Slack if a Slack user is given, else mail."""
    language: Lang | None = None
    """The holder's language for mails; unset = the language the CN is written in."""

    @field_validator("cn", "o")
    @classmethod
    def _strip(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        if not value:
            raise ValueError("must not be blank")
        return _no_controls(value)

    @field_validator("ous")
    @classmethod
    def _check_ous(cls, value: list[str]) -> list[str]:
        cleaned = [ou.strip() for ou in value]
        for ou in cleaned:
            if not ou or len(ou) > 64:
                raise ValueError("each OU must have 1 to 64 characters")
            _no_controls(ou)
        return cleaned

    @field_validator("email")
    @classmethod
    def _check_email(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not _EMAIL.match(value):
            raise ValueError(f"{value!r} is not an e-mail address")
        return _ascii_email(value)

    @field_validator("profile")
    @classmethod
    def _check_profile(cls, value: str) -> str:
        get_profile(value)
        return value

    @model_validator(mode="after")
    def _email_if_required(self) -> EnrollmentCreate:
        if get_profile(self.profile).requires_email and not self.email:
            raise ValueError(f"profile {self.profile!r} needs an e-mail address")
        return self

    @model_validator(mode="after")
    def _channel_if_notify(self) -> EnrollmentCreate:
        if self.notify in (Notify.EMAIL, Notify.BOTH) and not self.email:
            raise ValueError(f"notify {self.notify.value!r} needs an e-mail address (--email)")
        if self.notify in (Notify.SLACK, Notify.BOTH) and not self.slack_user:
            raise ValueError(f"notify {self.notify.value!r} needs a Slack user (--slack-user)")
        return self


@dataclass(frozen=True, slots=True)
class FieldProblem:
    """What is wrong with one field of an :class:`EnrollmentCreate` (``field`` empty: a rule
    across fields, such as a profile that needs an e-mail address)."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


def field_problems(exc: ValidationError) -> list[FieldProblem]:
    """:class:`EnrollmentCreate`'s validation errors, one per field, in words for RA staff
    (the command line, the CSV import, Slack's command and modal all say them alike)."""
    problems: list[FieldProblem] = []
    for error in exc.errors(include_input=False, include_url=False):
        context = error.get("ctx", {})
        kind = error["type"]
        if kind == "string_too_short" and context.get("min_length") == 1:
            message = "must not be empty"
        elif kind == "string_too_long":
            message = f"must have at most {context['max_length']} characters"
        elif kind == "too_long":
            message = f"must have at most {context['max_length']} values"
        else:
            message = str(error["msg"]).removeprefix("Value error, ")
        problems.append(FieldProblem(str(error["loc"][0]) if error["loc"] else "", message))
    return problems


@dataclass(frozen=True, slots=True, kw_only=True)
class NewLink:
    token: str
    url: str
    expires_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class NewEnrollment:
    enrollment_id: int
    reference_number: str
    authorization_code: str
    link: NewLink


def draw_link(
    *,
    pepper: codes.Pepper,
    config: EnrollmentConfig,
    purpose: LinkPurpose,
    owner: str | None,
    ttl: timedelta | None = None,
) -> tuple[dict[str, Any], NewLink]:
    """A fresh one-time link: its row's values (the token only as its keyed hash; the row's
    enrollment or certificate is the caller's) and what the holder is given."""
    token = codes.new_link_token()
    expires_at = utcnow() + (ttl or config.link_ttl)
    values = {
        "token_hash": pepper.hash_token(token),
        "purpose": purpose,
        "owner_slack_user": owner,
        "expires_at": expires_at,
    }
    kind: LinkKind = "enroll" if purpose == LinkPurpose.ENROLL else "renew"
    return values, NewLink(
        token=token, url=link_url(config.public_url, kind, token), expires_at=expires_at
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Drawn:
    """One enrollment's rows as plain values, before it is stored (no ids yet)."""

    enrollment: Mapping[str, Any]
    audit: Mapping[str, Any]
    link: Mapping[str, Any]  # without its enrollment_id
    code: str = field(repr=False)  # the authorization code in clear, shown once
    new_link: NewLink


def draw(
    request: EnrollmentCreate, *, pepper: codes.Pepper, config: EnrollmentConfig, actor: str
) -> Drawn:
    """A pending enrollment for ``request`` with a fresh reference number, code and link: every
    column of its rows, as SQLAlchemy's defaults would fill them."""
    now = utcnow()
    reference = codes.new_reference_number()
    salt = codes.new_code_salt()
    code = pepper.derive_code(reference, salt)
    link, new_link = draw_link(
        pepper=pepper, config=config, purpose=LinkPurpose.ENROLL, owner=request.slack_user
    )
    return Drawn(
        enrollment={
            "reference_number": reference,
            "authorization_code_hash": pepper.hash_code(code),
            "code_salt": salt,
            "status": EnrollmentStatus.PENDING,
            "failed_attempts": 0,
            "locked_at": None,
            "created_by": actor,
            "created_at": now,
            "updated_at": now,
            "issued_at": None,
            "subject_cn": request.cn,
            "subject_ous": list(request.ous),
            "subject_o": request.o,
            "email": request.email,
            "slack_user": request.slack_user,
            "profile": request.profile,
            "notify": request.notify,
            "language": request.language,
        },
        audit={
            "at": now,
            "actor": actor,
            "action": "enrollment.create",
            "target": reference,
            "outcome": "ok",
            "detail": {"cn": request.cn, "profile": request.profile},
        },
        link={
            **link,
            "certificate_id": None,
            "verification_code_hash": None,
            "failed_attempts": 0,
            "used_at": None,
            "created_at": now,
        },
        code=code,
        new_link=new_link,
    )


class NotStored(Exception):
    """The database refused a drawn enrollment (an integrity error: most likely a reference
    number already taken); the whole batch is undone and drawn again."""


StoreDrawn = Callable[[Sequence[Drawn]], Awaitable[Sequence[int]]]
"""Stores drawn enrollments in one unit and returns their ids; :class:`NotStored` if refused."""


async def create_enrollments(
    requests: Sequence[EnrollmentCreate],
    *,
    pepper: codes.Pepper,
    config: EnrollmentConfig,
    actor: str,
    store: StoreDrawn,
) -> list[NewEnrollment]:
    """One pending enrollment per request, with its audit row and link, all stored by
    ``store`` in one unit: if any cannot be stored, none is."""
    for _ in range(TRIES):
        drawn = [draw(request, pepper=pepper, config=config, actor=actor) for request in requests]
        try:
            ids = await store(drawn)
        except NotStored:
            continue  # reference number collision: draw them all again
        return [
            NewEnrollment(
                enrollment_id=enrollment_id,
                reference_number=one.enrollment["reference_number"],
                authorization_code=one.code,
                link=one.new_link,
            )
            for one, enrollment_id in zip(drawn, ids, strict=True)
        ]
    raise RuntimeError(f"could not draw free reference numbers in {TRIES} tries")


def _insert(table: str, columns: Sequence[str], returning: str = "") -> str:
    names = ", ".join(columns)
    marks = ", ".join("?" * len(columns))
    return f"INSERT INTO {table} ({names}) VALUES ({marks}){returning}"  # noqa: S608 (own names)


def sqlite_unit(drawn: Sequence[Drawn]) -> Callable[[sqlite3.Connection], list[int]]:
    """The unit on the writer's ``sqlite3`` connection (in its thread): each enrollment, its
    audit row and its link; the enrollments' ids."""
    rows = [
        (
            tuple(sqlite_value(value) for value in one.enrollment.values()),
            tuple(sqlite_value(value) for value in one.audit.values()),
            tuple(sqlite_value(value) for value in one.link.values()),
        )
        for one in drawn
    ]
    if not drawn:
        return lambda _connection: []
    first = drawn[0]
    enrollment_sql = _insert("enrollment", list(first.enrollment), " RETURNING id")
    audit_sql = _insert("audit_event", list(first.audit))
    link_sql = _insert("one_time_link", [*first.link, "enrollment_id"])

    def unit(connection: sqlite3.Connection) -> list[int]:
        ids = []
        try:
            for enrollment, audit, link in rows:
                (enrollment_id,) = connection.execute(enrollment_sql, enrollment).fetchone()
                connection.execute(audit_sql, audit)
                connection.execute(link_sql, (*link, enrollment_id))
                ids.append(int(enrollment_id))
        except sqlite3.IntegrityError as exc:
            raise NotStored(str(exc)) from exc
        return ids

    return unit
