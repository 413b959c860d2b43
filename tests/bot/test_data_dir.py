"""The data directory is 0700 and the database, its -wal/-shm files and the keys 0600 under
umask 022 (finding 9); concurrent first starts agree on one whole secret key (finding 11)."""

from __future__ import annotations

import multiprocessing
import stat
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from bot.datadir import read_or_create_secret_key
from tests.support.postgres import free_port
from tests.support.processes import base_env


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"certdesk serve did not become healthy: {log.read_text()}")


def test_serve_under_umask_022_keeps_the_data_private(tmp_path: Path) -> None:
    data = tmp_path / "var"
    port = free_port()
    env = base_env(data, {"PORT": str(port), "CERTDESK_SERVE_REMINDERS": "false"})
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "serve", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
            umask=0o022,
        )
    try:
        wait_healthy(f"http://127.0.0.1:{port}", process, log)
        files = {path.name: mode(path) for path in data.rglob("*") if path.is_file()}
        assert mode(data) == 0o700
        for name in ("certdesk.db", "certdesk.db-wal", "certdesk.db-shm", "secret.key"):
            assert files.get(name) == 0o600, (name, files)
        keys = list(data.rglob("*.key"))
        assert keys
        assert all(mode(key) == 0o600 for key in keys), files
    finally:
        process.terminate()
        process.wait(timeout=15)


def test_db_upgrade_under_umask_022_makes_the_database_private(tmp_path: Path) -> None:
    data = tmp_path / "new" / "var"
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "db", "upgrade"],
        env=base_env(data),
        capture_output=True,
        cwd=tmp_path,
        umask=0o022,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert mode(data) == 0o700
    assert mode(data / "certdesk.db") == 0o600


def test_a_loose_database_left_by_an_older_certdesk_is_tightened(tmp_path: Path) -> None:
    data = tmp_path / "var"
    data.mkdir(mode=0o700)
    (data / "certdesk.db").touch(mode=0o644)
    (data / "secret.key").write_bytes(b"k" * 32)
    (data / "secret.key").chmod(0o644)
    from bot.datadir import prepare_data_dir

    prepare_data_dir(data, database_url=f"sqlite+aiosqlite:///{data / 'certdesk.db'}")
    assert mode(data / "certdesk.db") == 0o600
    assert mode(data / "secret.key") == 0o600


def _worker(data_dir: str, barrier: Any, queue: Any) -> None:
    barrier.wait()
    queue.put(read_or_create_secret_key(Path(data_dir)))


def test_concurrent_first_starts_all_read_the_same_whole_key(tmp_path: Path) -> None:
    """Many processes starting at once on an empty data directory read one 32-byte key."""
    context = multiprocessing.get_context("fork")
    workers = 8
    for round_ in range(25):
        data = tmp_path / f"round{round_}"
        barrier = context.Barrier(workers)
        queue = context.Queue()
        processes = [
            context.Process(target=_worker, args=(str(data), barrier, queue))
            for _ in range(workers)
        ]
        for process in processes:
            process.start()
        keys = [queue.get(timeout=60) for _ in processes]
        for process in processes:
            process.join(timeout=60)
        assert {len(key) for key in keys} == {32}, [len(key) for key in keys]
        assert len(set(keys)) == 1
        assert keys[0] == (data / "secret.key").read_bytes()
        assert mode(data / "secret.key") == 0o600
