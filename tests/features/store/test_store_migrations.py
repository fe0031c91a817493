"""The Alembic migrations build exactly the schema the ORM describes, on SQLite and PostgreSQL,
and are driven from code without an alembic.ini."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect

from features.store.database import make_engine
from features.store.migrate import (
    SchemaNotCurrentError,
    check_schema,
    current_revision,
    downgrade,
    head_revision,
    upgrade,
)
from features.store.models import Base

TABLES = {"ingest_run", "source_file", "source_record", "quarantine"}


def schema_diff(engine: Engine) -> list[object]:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))


def test_migrations_match_the_models_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    upgrade(url)  # a plain URL string: the way the CLI will call it
    engine = make_engine(url)
    assert schema_diff(engine) == []
    assert current_revision(engine) == head_revision() == "0002"
    engine.dispose()


@pytest.mark.postgres
def test_migrations_match_the_models_on_postgres(empty_postgres: Engine) -> None:
    upgrade(empty_postgres)
    assert schema_diff(empty_postgres) == []
    columns = {c["name"]: c for c in inspect(empty_postgres).get_columns("source_record")}
    assert type(columns["payload"]["type"]).__name__ == "JSONB"
    assert type(columns["id"]["type"]).__name__ == "BIGINT"


def test_an_empty_database_differs_and_is_refused(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    assert schema_diff(engine)  # the comparison can fail: it is not vacuous
    with pytest.raises(SchemaNotCurrentError):
        check_schema(engine)
    upgrade(engine)
    check_schema(engine)
    engine.dispose()


def test_downgrade_to_base_and_upgrade_again(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade(engine)
    assert set(inspect(engine).get_table_names()) >= TABLES
    downgrade(engine, "base")
    assert not TABLES & set(inspect(engine).get_table_names())
    assert current_revision(engine) is None
    upgrade(engine)
    assert schema_diff(engine) == []
    engine.dispose()


def test_an_in_memory_database_can_be_migrated() -> None:
    # The migration runs on the caller's connection, so even sqlite:// keeps its tables.
    engine = make_engine("sqlite://")
    upgrade(engine)
    assert set(inspect(engine).get_table_names()) >= TABLES
    engine.dispose()
