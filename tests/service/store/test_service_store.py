"""The service's tables: migrations agree with the models, beside the feature store's tables,
on SQLite and PostgreSQL; timestamps come back in UTC on both."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect

from features.store.database import make_engine, session_factory
from features.store.migrate import check_schema as check_feature_schema
from features.store.migrate import upgrade as upgrade_feature_store
from service.store.migrate import (
    VERSION_TABLE,
    SchemaNotCurrentError,
    check_schema,
    current_revision,
    downgrade,
    head_revision,
    upgrade,
)
from service.store.models import ApiKey, ServiceBase

SERVICE_TABLES = set(ServiceBase.metadata.tables)


def _diff(engine: Engine) -> list[object]:
    def only_ours(obj: object, name: str | None, type_: str, *_: object) -> bool:
        return type_ != "table" or name in SERVICE_TABLES

    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={
                "compare_type": True,
                "include_object": only_ours,
                "version_table": VERSION_TABLE,
            },
        )
        return list(compare_metadata(context, ServiceBase.metadata))


def _check_both_histories(engine: Engine) -> None:
    upgrade_feature_store(engine)
    with pytest.raises(SchemaNotCurrentError):
        check_schema(engine)
    upgrade(engine)
    check_schema(engine)
    check_feature_schema(engine)
    assert _diff(engine) == []
    assert current_revision(engine) == head_revision()
    tables = set(inspect(engine).get_table_names())
    assert tables >= SERVICE_TABLES and "source_record" in tables
    # Taking the service back to base leaves the feature store's tables alone.
    downgrade(engine, "base")
    remaining = set(inspect(engine).get_table_names())
    assert not SERVICE_TABLES & remaining and "source_record" in remaining
    check_feature_schema(engine)


def test_service_migrations_match_the_models_on_sqlite(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    _check_both_histories(engine)
    engine.dispose()


@pytest.mark.postgres
def test_service_migrations_match_the_models_on_postgres(empty_postgres: Engine) -> None:
    _check_both_histories(empty_postgres)


def test_timestamps_read_back_in_utc_even_on_sqlite(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade(engine)
    made = dt.datetime(2026, 4, 1, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=9)))
    with session_factory(engine)() as session, session.begin():
        session.add(
            ApiKey(
                id="k1",
                name="n",
                role="admin",
                municipality=None,
                secret_sha256="0" * 64,
                created_at=made,
                created_by="test",
                revoked_at=None,
            )
        )
    with session_factory(engine)() as session:
        stored = session.get(ApiKey, "k1")
        assert stored is not None
        assert stored.created_at.tzinfo is not None
        assert stored.created_at == made
    engine.dispose()
