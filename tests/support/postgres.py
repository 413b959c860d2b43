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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


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

    def create_database(self) -> str:
        name = f"certdesk_{uuid.uuid4().hex[:12]}"
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
                f"CREATE DATABASE {name}",
            ],
            check=True,
            capture_output=True,
        )
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{name}"

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
