"""`certdesk serve` killed with SIGKILL in the middle of a burst of 200 enrollments, then
restarted on the same embedded SQLite data directory.

Every client that got a 201 finds its certificate stored; no enrollment is half-issued
(enrollment issued <=> its certificate row exists <=> its link is used); the unfinished ones
are redeemed after the restart; ``PRAGMA integrity_check`` is ok."""

from __future__ import annotations

import signal
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.faults.client import create_enrollments, redeem
from tests.support.processes import base_env, live_server

pytestmark = pytest.mark.slow

BURST = 200
KILL_AFTER = 40  # answered enrollments before the SIGKILL


def stored_state(database: Path) -> dict[str, tuple[str, int, bool]]:
    """reference number -> (enrollment status, certificate rows, link used)."""
    with sqlite3.connect(database) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        rows = connection.execute(
            "SELECT e.reference_number, e.status,"
            " (SELECT count(*) FROM certificate c WHERE c.enrollment_id = e.id),"
            " (SELECT count(*) FROM one_time_link l"
            "   WHERE l.enrollment_id = e.id AND l.used_at IS NOT NULL)"
            " FROM enrollment e"
        ).fetchall()
    return {reference: (status, certs, used > 0) for reference, status, certs, used in rows}


def stored_serials(database: Path) -> set[str]:
    with sqlite3.connect(database) as connection:
        return {serial for (serial,) in connection.execute("SELECT serial FROM certificate")}


def test_sigkill_mid_burst_leaves_no_half_issued_enrollment(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    enrollments = create_enrollments(data_dir, BURST)
    env = base_env(data_dir)
    answers: dict[str, tuple[int, object]] = {}
    answered = threading.Semaphore(0)
    with live_server(env) as server:

        def one(enrollment: dict[str, str]) -> None:
            answers[enrollment["reference_number"]] = redeem(server.url, enrollment)
            answered.release()

        with ThreadPoolExecutor(16) as pool:
            for enrollment in enrollments:
                pool.submit(one, enrollment)
            for _ in range(KILL_AFTER):
                assert answered.acquire(timeout=120), f"no answer: {server.log()[-2000:]}"
            server.process.send_signal(signal.SIGKILL)
            server.process.wait()
    created = [status for status, _ in answers.values() if status == 201]
    assert KILL_AFTER <= len(created) < BURST, "the kill did not land in the burst"

    database = data_dir / "certdesk.db"
    state = stored_state(database)
    for reference, (status, certificates, link_used) in state.items():
        issued = status == "issued"
        assert (issued, issued) == (certificates == 1, link_used), (reference, state[reference])
        assert certificates <= 1, (reference, state[reference])
    serials = stored_serials(database)
    for reference, (status, body) in answers.items():
        if status == 201:
            assert isinstance(body, dict)
            assert body["serial"] in serials, reference
            assert state[reference][0] == "issued"

    unfinished = [e for e in enrollments if state[e["reference_number"]][0] != "issued"]
    assert unfinished
    with live_server(env) as server:
        for enrollment in unfinished:
            status, body = redeem(server.url, enrollment)
            assert status == 201, (enrollment["reference_number"], body)
    final = stored_state(database)
    assert all(value == ("issued", 1, True) for value in final.values()), final
