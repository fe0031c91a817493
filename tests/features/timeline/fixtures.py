"""Session fixtures: the tiny synthetic population with perfect linkage (generated once)."""

from __future__ import annotations

from pathlib import Path

import pytest

from features.timeline.records import LinkedRecords
from tests.features.timeline.perfect_linkage import tiny_population, tiny_records


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_population(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="session")
def tiny(tiny_root: Path) -> LinkedRecords:
    return tiny_records(tiny_root)
