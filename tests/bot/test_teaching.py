"""``faq teach`` from several processes or threads at once: no taught question is lost."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bot.settings import Settings
from bot.teaching import teach_file
from faq.sources import load_all


def test_concurrent_teaches_of_one_shipped_entry_keep_every_question(tmp_path: Path) -> None:
    """Each teach copies the shipped entry into the RA's directory, or reads the copy, and adds
    its question: one at a time (the directory's ``.teach.lock``), so none overwrites another's."""
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path / "data",
        database_url_=None,
        knowledge_dir=tmp_path / "knowledge",
    )
    questions = [f"where is the renewal button number {n}" for n in range(3)]
    start = threading.Barrier(len(questions))

    def teach(question: str) -> None:
        start.wait()
        teach_file(settings, "renewal", question, language="en")

    with ThreadPoolExecutor(len(questions)) as pool:
        list(pool.map(teach, questions))
    entries, origins = load_all(tmp_path / "knowledge")
    assert origins["renewal"] != "shipped"  # the RA's copy
    [renewal] = [entry for entry in entries if entry.id == "renewal"]
    assert set(questions) <= set(renewal.texts["en"].questions)
