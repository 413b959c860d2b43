"""One atomic file write: served-url, the TLS key and chain, the OCSP pair, taught entries."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from enrollment.files import replace_file, snapshot


def test_replace_file_puts_the_whole_file_with_its_mode_or_nothing(tmp_path: Path) -> None:
    target = tmp_path / "server.key"
    target.write_bytes(b"old")
    replace_file(target, b"new", mode=0o640)
    assert target.read_bytes() == b"new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    with pytest.raises(TypeError):
        replace_file(target, "not bytes", mode=0o600)  # type: ignore[arg-type]
    assert target.read_bytes() == b"new"
    assert [path.name for path in tmp_path.iterdir()] == ["server.key"]


def test_snapshot_keeps_the_version_it_was_taken_of_and_is_removed_after(tmp_path: Path) -> None:
    """A file replaced while a snapshot of it is open: the snapshot still reads the old
    version, every time it is opened; afterwards only the file is left."""
    target = tmp_path / "server.pem"
    target.write_bytes(b"old pair")
    with snapshot(target) as pinned:
        assert pinned.name == f".server.pem.loading-{os.getpid()}"
        replace_file(target, b"new pair", mode=0o600)
        assert pinned.read_bytes() == b"old pair"
        assert pinned.read_bytes() == b"old pair"
    assert target.read_bytes() == b"new pair"
    assert [path.name for path in tmp_path.iterdir()] == ["server.pem"]
    with pytest.raises(FileNotFoundError), snapshot(tmp_path / "absent.pem"):
        pass
