"""The SQLite data directory on a full filesystem (a small tmpfs), behind a real `certdesk serve`.

While the disk is full an enrollment gets a JSON 503 that says the disk is full (never a 500),
nothing is corrupted (``PRAGMA integrity_check``), and service comes back when space is freed,
without restarting certdesk."""

from __future__ import annotations

import errno
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.client import call, create_enrollments, redeem
from tests.support import system
from tests.support.processes import base_env, live_server

pytestmark = pytest.mark.slow

SIZE = "16m"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 16 MiB tmpfs as the data directory; unmounted afterwards."""
    mount_point = tmp_path / "data"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={SIZE},mode=0700", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        reason = f"cannot mount a tmpfs here ({mounted.stderr.strip() or 'not root'})"
        if system.require_all():
            pytest.fail(f"{reason}; {system.REQUIRE_VAR} is set, so this is a failure")
        pytest.skip(reason)
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False, capture_output=True)


def fill(directory: Path) -> Path:
    """Write a file until the filesystem has no byte left; returns it (delete it to free)."""
    filler = directory / "filler"
    descriptor = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (1 << 16, 4096, 512, 1):
            written = size
            while written:
                try:
                    written = os.write(descriptor, b"\0" * size)
                except OSError as error:
                    if error.errno != errno.ENOSPC:
                        raise
                    written = 0
    finally:
        os.close(descriptor)
    return filler


def integrity(database: Path) -> str:
    with sqlite3.connect(database) as connection:
        (result,) = connection.execute("PRAGMA integrity_check").fetchone()
    return str(result)


def test_disk_full_answers_503_and_recovers(small_disk: Path) -> None:
    enrollments = create_enrollments(small_disk, 60)
    with live_server(base_env(small_disk)) as server:
        assert redeem(server.url, enrollments[0])[0] == 201
        filler = fill(small_disk)
        refused: list[dict[str, str]] = []
        for enrollment in enrollments[1:]:
            status, body = redeem(server.url, enrollment)
            assert status in {201, 503}, body
            if status == 503:
                assert isinstance(body, dict)
                assert body["error"]["code"] == "disk_full", body
                assert "disk" in body["error"]["message"]
                refused.append(enrollment)
        assert refused, "the full disk never refused a write"
        assert integrity(small_disk / "certdesk.db") == "ok"
        os.unlink(filler)
        assert call("GET", f"{server.url}/healthz")[0] == 200
        for enrollment in refused:
            status, body = redeem(server.url, enrollment)
            assert status == 201, body
        assert server.process.poll() is None
    assert integrity(small_disk / "certdesk.db") == "ok"
