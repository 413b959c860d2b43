"""A real PostgreSQL server in a temporary directory, run as the `postgres` user when root."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

_handed_out: list[int] = []


def _worker_share() -> tuple[int, int]:
    """This process's pytest-xdist worker index and the number of workers ((0, 1) without)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or "1")
    if not worker.startswith("gw") or count < 2:
        return 0, 1
    return int(worker[2:]) % count, count


def free_port() -> int:
    """A 127.0.0.1 port that nothing listens on, for a server a test starts afterwards.

    The port is free when probed, not reserved: under pytest-xdist each worker keeps only the
    ports of its own share (``port // 2 % workers``, as the kernel hands out even ports first),
    so two workers never pick the same port between the probe and the server's bind; and this
    process does not hand out one of its last 64 ports again.
    """
    index, count = _worker_share()
    for _ in range(10_000):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port: int = sock.getsockname()[1]
        if (port // 2) % count == index and port not in _handed_out:
            _handed_out.append(port)
            del _handed_out[:-64]
            return port
    raise RuntimeError("no free 127.0.0.1 port in this worker's share")


def _as_postgres(cmd: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return cmd
    return ["runuser", "-u", "postgres", "--", *cmd]


@dataclass
class PostgresServer:
    bin_dir: str
    root: Path
    port: int

    @classmethod
    def start(cls, bin_dir: str) -> PostgresServer:
        root = Path(tempfile.mkdtemp(prefix="certdesk-pg-"))
        if os.geteuid() == 0:
            entry = pwd.getpwnam("postgres")
            os.chown(root, entry.pw_uid, entry.pw_gid)
        data = root / "data"
        subprocess.run(
            _as_postgres(
                [
                    f"{bin_dir}/initdb",
                    "-D",
                    str(data),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                ]
            ),
            check=True,
            capture_output=True,
        )
        server = cls(bin_dir=bin_dir, root=root, port=free_port())
        server.resume()
        return server

    def resume(self) -> None:
        """Start the server on its data directory and port; returns when it accepts connections."""
        subprocess.run(
            _as_postgres(
                [
                    f"{self.bin_dir}/pg_ctl",
                    "-D",
                    str(self.root / "data"),
                    "-l",
                    str(self.root / "server.log"),
                    "-w",
                    "-o",
                    f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
                    "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200",
                    "start",
                ]
            ),
            check=True,
            capture_output=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            ready = subprocess.run(
                [f"{self.bin_dir}/pg_isready", "-h", "127.0.0.1", "-p", str(self.port)],
                capture_output=True,
            )
            if ready.returncode == 0:
                return
            time.sleep(0.2)
        raise RuntimeError(f"PostgreSQL did not start: {(self.root / 'server.log').read_text()}")

    def halt(self) -> None:
        """Stop the server (fast shutdown) and keep its data, as an outage does; see resume."""
        subprocess.run(
            _as_postgres(
                [
                    f"{self.bin_dir}/pg_ctl",
                    "-D",
                    str(self.root / "data"),
                    "-m",
                    "fast",
                    "-w",
                    "stop",
                ]
            ),
            check=True,
            capture_output=True,
        )

    def stop(self) -> None:
        subprocess.run(
            _as_postgres(
                [f"{self.bin_dir}/pg_ctl", "-D", str(self.root / "data"), "-m", "immediate", "stop"]
            ),
            capture_output=True,
        )
        shutil.rmtree(self.root, ignore_errors=True)

    def _psql(self, *commands: str) -> None:
        """Run each SQL command (its own transaction) as the superuser; fails on an error."""
        subprocess.run(
            [
                f"{self.bin_dir}/psql",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                *(arg for command in commands for arg in ("-c", command)),
            ],
            check=True,
            capture_output=True,
        )

    def create_database(self) -> str:
        """A new, empty database; its SQLAlchemy URL."""
        name = f"certdesk_{uuid.uuid4().hex[:12]}"
        self._psql(f"CREATE DATABASE {name}")
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{name}"

    def replace_with_copy(self, url: str, template_url: str) -> None:
        """Drop the database of ``url`` and create it again as a copy of ``template_url``'s
        (which nothing may be connected to): a migrated schema in one file copy, not a run of
        every migration."""
        name = url.rsplit("/", 1)[1]
        template = template_url.rsplit("/", 1)[1]
        self._psql(
            f"DROP DATABASE {name} WITH (FORCE)", f"CREATE DATABASE {name} TEMPLATE {template}"
        )

    def drop_database(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        subprocess.run(
            [
                f"{self.bin_dir}/psql",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-q",
                "-c",
                f"DROP DATABASE IF EXISTS {name} WITH (FORCE)",
            ],
            check=False,
            capture_output=True,
        )
