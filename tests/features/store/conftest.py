"""Fixtures for store tests: a PostgreSQL schema of one's own, dropped afterwards."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from features.store.database import make_engine

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@pytest.fixture
def empty_postgres() -> Iterator[Engine]:
    """An engine whose search_path is a fresh, empty schema (not migrated)."""
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
