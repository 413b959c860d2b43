"""A database file that is damaged or no database at all: every command that opens it says so
in one line and exits 2, with no traceback; `certdesk backup` refuses to archive it and keeps an
earlier archive of the same name."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.processes import Cli, base_env

COMMANDS = [
    ("ra", "issue", "--cn", "Plain Holder", "--json"),  # the plain sqlite3 path
    ("ra", "issue", "--cn", "Mailed Holder", "--email", "holder@example.org", "--json"),
    ("ra", "list"),
    ("serve", "--port", "0"),
]


@pytest.fixture(scope="module")
def damaged(tmp_path_factory: pytest.TempPathFactory) -> Cli:
    data = tmp_path_factory.mktemp("damaged") / "var"
    data.mkdir(mode=0o700)
    cli = Cli(base_env(data, {"CERTDESK_SERVE_REMINDERS": "false"}))
    made = cli("init")
    assert made.returncode == 0, made.stderr
    (data / "certdesk.db").write_bytes(b"this was overwritten by something else\n" * 200)
    return cli


@pytest.mark.parametrize(
    "command", COMMANDS, ids=["ra issue", "ra issue --email", "ra list", "serve"]
)
def test_a_damaged_database_is_one_clear_line(damaged: Cli, command: tuple[str, ...]) -> None:
    result = damaged(*command)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("certdesk: The database cannot be read")
    assert "certdesk restore" in result.stderr
    assert result.stdout == ""


def test_backup_of_a_damaged_database_keeps_the_earlier_archive(
    damaged: Cli, tmp_path: Path
) -> None:
    archive = tmp_path / "certdesk-backup.tar.gz"
    archive.write_bytes(b"an earlier backup")
    result = damaged("backup", str(archive))
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "cannot copy the database" in result.stderr
    assert "nothing was written" in result.stderr
    assert archive.read_bytes() == b"an earlier backup"
    assert sorted(p.name for p in tmp_path.iterdir()) == [archive.name]  # no partial left
