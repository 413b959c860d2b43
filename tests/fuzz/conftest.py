"""The fuzz tests run on embedded SQLite only: they fuzz the parsers, not the stores."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    (tmp_path / "data").mkdir(exist_ok=True)
    return f"sqlite+aiosqlite:///{tmp_path / 'data' / 'certdesk.db'}"
