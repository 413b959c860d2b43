"""Which driver failures mean "the database cannot be reached or written" (a 503 that changes
nothing) and which keep their own course (enrollment/db.py:storage_failure). Pure, fast."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

import pytest

from enrollment.db import storage_failure
from enrollment.errors import StorageDamaged, StorageFull, StorageUnavailable


@dataclass
class DriverError(Exception):
    """A driver error carrying a SQLSTATE, as asyncpg's do."""

    sqlstate: str


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (sqlite3.OperationalError("database or disk is full"), StorageFull),
        (sqlite3.OperationalError("disk I/O error"), StorageFull),
        (sqlite3.OperationalError("unable to open database file"), StorageUnavailable),
        (sqlite3.DatabaseError("file is not a database"), StorageDamaged),
        (sqlite3.DatabaseError("database disk image is malformed"), StorageDamaged),
        (sqlite3.OperationalError("database is locked"), None),
        (sqlite3.OperationalError("no such table: enrollment"), None),
        (sqlite3.IntegrityError("UNIQUE constraint failed"), None),
        (ConnectionRefusedError(111, "Connect call failed"), StorageUnavailable),
        (DriverError("57P01"), StorageUnavailable),  # admin shutdown
        (DriverError("08006"), StorageUnavailable),  # connection failure
        (DriverError("23505"), None),  # unique violation: a bug or a race, not an outage
        (ValueError("bad value"), None),
    ],
)
def test_storage_failure_maps_only_unreachable_or_full_storage(
    error: BaseException, expected: type[StorageUnavailable] | None
) -> None:
    failure = storage_failure(error)
    if expected is None:
        assert failure is None
    else:
        assert type(failure) is expected
        assert failure is not None
        assert failure.status == 503
        assert str(error) not in failure.message  # no driver detail in what users see


def test_storage_failure_trusts_a_disconnect_flag() -> None:
    failure = storage_failure(RuntimeError("server closed the connection"), disconnect=True)
    assert isinstance(failure, StorageUnavailable)
    assert failure.code == "database_unavailable"
