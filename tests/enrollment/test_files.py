"""One atomic file write: served-url, the TLS key and chain, the OCSP pair, taught entries."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from enrollment.files import replace_file


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
