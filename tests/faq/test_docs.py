"""The examples in the knowledge room's docstrings run and stay true."""

from __future__ import annotations

import doctest
from types import ModuleType

import pytest

import faq
import faq.knowledge
import faq.retrieval


@pytest.mark.parametrize("module", [faq, faq.knowledge, faq.retrieval], ids=lambda m: m.__name__)
def test_docstring_examples_pass(module: ModuleType) -> None:
    result = doctest.testmod(module)
    assert result.attempted > 0
    assert result.failed == 0
