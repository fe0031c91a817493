"""Fixtures for ingest tests: one small generated population per session, and databases."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from features.store.database import make_engine
from features.store.migrate import upgrade

# After every legitimate date of the synthetic history (it ends March 2026; 把握日 run two
# months later), so only genuinely impossible future dates are quarantined as future_date.
RUN_DATE = dt.date(2026, 6, 30)


@pytest.fixture(scope="session")
def small_population(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated population of about 300 children (extracts and ground truth), read-only."""
    from synthetic.generator import generate
    from synthetic.profiles import resolve_profile

    root = tmp_path_factory.mktemp("small-population")
    generate(resolve_profile("tiny", children=300, seed=5), root)
    return root


@pytest.fixture
def extracts(small_population: Path, tmp_path: Path) -> Path:
    """A private copy of the population's extracts that a test may modify."""
    target = tmp_path / "extracts"
    shutil.copytree(small_population / "extracts", target)
    return target


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def postgres_engine(empty_postgres: Engine) -> Engine:
    """A migrated PostgreSQL store in a schema of its own (see tests/conftest.py)."""
    upgrade(empty_postgres)
    return empty_postgres
