"""``certdesk ra issue --from-csv FILE``: read and validate every row before anything is made.

The header row names the columns: ``cn`` (required), ``ou`` (several OUs separated by ``;``, in
order), ``o``, ``email``, ``slack_user``, ``profile`` and ``notify`` (``slack``, ``email`` or
``both``). Any problem in any row refuses the whole file, with a message that names the row and
the column, so nothing is half-created.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from common.errors import CertdeskError

if TYPE_CHECKING:
    from enrollment.services import EnrollmentCreate

COLUMNS = ("cn", "ou", "o", "email", "slack_user", "profile", "notify")
Notify = Literal["slack", "email", "both"]
NOTIFY_CHOICES: dict[str, Notify] = {"slack": "slack", "email": "email", "both": "both"}
MAX_ROWS = 10_000


class CsvRejected(CertdeskError, code="csv_rejected"):
    """The file cannot be issued as it is; nothing was created."""


@dataclass(frozen=True, slots=True)
class CsvRow:
    line: int
    """The row's line in the file (the header is line 1)."""
    request: EnrollmentCreate
    notify: Notify | None


def parse_rows(text: str, *, default_profile: str) -> list[CsvRow]:
    """Every row of the CSV ``text`` as an enrollment request; :class:`CsvRejected` listing
    each wrong row and column otherwise."""
    from pydantic import ValidationError

    from enrollment.models import Notify as EnrollmentNotify
    from enrollment.services.creation import EnrollmentCreate, field_problems

    reader = csv.DictReader(io.StringIO(text.removeprefix("\ufeff"), newline=""))
    header = [name.strip().lower() for name in reader.fieldnames or ()]
    if "cn" not in header:
        raise CsvRejected(
            "the first row must name the columns, at least cn (e.g. cn,ou,o,email); "
            f"the columns may be {', '.join(COLUMNS)}"
        )
    unknown = sorted({name for name in header if name not in COLUMNS})
    if unknown or len(set(header)) != len(header):
        problem = f"unknown column(s) {', '.join(unknown)}" if unknown else "a column is repeated"
        raise CsvRejected(f"the header row has {problem}; the columns may be {', '.join(COLUMNS)}")
    reader.fieldnames = header
    rows: list[CsvRow] = []
    problems: list[str] = []
    for record in reader:
        line = reader.line_num
        if len(rows) + len(problems) >= MAX_ROWS:
            raise CsvRejected(f"the file has more than {MAX_ROWS} rows; split it")
        if None in record:
            problems.append(f"row {line}: more fields than the header names")
            continue
        values = {key: (value or "").strip() for key, value in record.items()}
        if not any(values.values()):
            continue  # a blank line
        given = values.get("notify", "").lower()
        notify = NOTIFY_CHOICES.get(given)
        if given and notify is None:
            problems.append(f"row {line}, column notify: {given!r} is not slack, email or both")
            continue
        if notify in ("slack", "both") and not values.get("slack_user"):
            problems.append(f"row {line}, column notify: {notify} needs a slack_user")
            continue
        if notify in ("email", "both") and not values.get("email"):
            problems.append(f"row {line}, column notify: {notify} needs an email")
            continue
        try:
            request = EnrollmentCreate(
                cn=values.get("cn", ""),
                ous=[ou for ou in values.get("ou", "").split(";") if ou.strip()],
                o=values.get("o") or None,
                email=values.get("email") or None,
                slack_user=values.get("slack_user") or None,
                profile=values.get("profile") or default_profile,
                notify=None if notify is None else EnrollmentNotify(notify),
            )
        except ValidationError as exc:
            for wrong in field_problems(exc):
                problems.append(f"row {line}, column {_column(wrong.field)}: {wrong.message}")
            continue
        rows.append(CsvRow(line, request, notify))
    if problems:
        raise CsvRejected(
            "nothing was created; fix these rows and run the command again: " + "; ".join(problems)
        )
    if not rows:
        raise CsvRejected("the file has a header row but no enrollments")
    return rows


def _column(field: str) -> str:
    """The CSV column of a field's problem (``ous`` is the ``ou`` column)."""
    if not field:
        return "email"  # the one rule across fields: the profile needs an e-mail address
    return "ou" if field == "ous" else field
