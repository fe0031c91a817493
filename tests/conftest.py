"""Shared fixtures: one tiny synthetic population per test session, generated once."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@pytest.fixture(scope="session")
def tiny_profile():  # type: ignore[no-untyped-def]
    from synthetic.profiles import resolve_profile

    return resolve_profile("tiny", seed=11)


@pytest.fixture(scope="session")
def tiny_world(tiny_profile):  # type: ignore[no-untyped-def]
    from synthetic.generator import build_world

    return build_world(tiny_profile)


@pytest.fixture(scope="session")
def tiny_population(tmp_path_factory: pytest.TempPathFactory, tiny_profile) -> Path:  # type: ignore[no-untyped-def]
    """A generated tiny population on disk (extracts and ground truth)."""
    from synthetic.generator import generate

    root = tmp_path_factory.mktemp("tiny-population")
    generate(tiny_profile, root)
    return root


@pytest.fixture
def empty_postgres() -> Iterator[Engine]:
    """An engine whose search_path is a fresh, empty PostgreSQL schema, dropped afterwards.

    Reads MIMAMORI_TEST_DATABASE_URL; skips, saying why, only when no server answers.
    """
    from features.store.database import make_engine

    url = os.environ.get("MIMAMORI_TEST_DATABASE_URL", DEFAULT_POSTGRES_URL)
    admin = make_engine(url, connect_args={"connect_timeout": 5})
    try:
        with admin.connect():
            pass
    except OperationalError as error:
        admin.dispose()
        pytest.skip(f"no PostgreSQL server answers at {url}: {error.orig}")
    schema = f"mimamori_test_{uuid.uuid4().hex[:12]}"
    with admin.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    engine = make_engine(url, connect_args={"options": f"-csearch_path={schema}"})
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()
