"""The store's engine and tables behave: foreign keys enforced, WAL on SQLite, JSON payloads
round-trip Japanese text, deleting a file removes its rows, and a rollback leaves nothing."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError

from features.store.database import make_engine, session_factory
from features.store.migrate import upgrade
from features.store.models import IngestRun, Quarantine, SourceFile, SourceRecord

PAYLOAD = {"name": "髙橋　𠮷子", "birth_date": "2020-04-01", "weight": 3.05, "visits": None}


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade(engine)
    yield engine
    engine.dispose()


def add_file(engine: Engine) -> int:
    with session_factory(engine).begin() as session:
        run = IngestRun(
            started_at=dt.datetime(2026, 6, 30, 9, tzinfo=dt.UTC),
            status="succeeded",
            extracts_root="/extracts",
            catalogue_version=1,
            catalogue_sha256="0" * 64,
            run_date=dt.date(2026, 6, 30),
        )
        session.add(run)
        session.flush()
        file = SourceFile(
            run_id=run.id,
            municipality="990001",
            source="registry",
            relative_path="990001/registry/jumin.csv",
            sha256="1" * 64,
            catalogue_sha256="0" * 64,
            encoding="cp932",
            rows_read=2,
            rows_loaded=1,
            rows_quarantined=1,
        )
        session.add(file)
        session.flush()
        session.add(record(file.id))
        session.add(
            Quarantine(
                source_file_id=file.id,
                line=3,
                reason="missing_required",
                message="氏名 (name) is empty",
                redacted_text="1,2,,<氏名カナ>",
            )
        )
        return file.id


def record(file_id: int) -> SourceRecord:
    return SourceRecord(
        source_file_id=file_id,
        municipality="990001",
        source="registry",
        line=2,
        id_kind="atena",
        local_id="1000000001",
        event_date=dt.date(2020, 5, 1),
        known_date=dt.date(2020, 5, 8),
        payload=PAYLOAD,
    )


def check_round_trip_and_cascade(engine: Engine) -> None:
    file_id = add_file(engine)
    with session_factory(engine)() as session:
        stored = session.scalars(select(SourceRecord)).one()
        assert stored.payload == PAYLOAD
        assert stored.known_date == dt.date(2020, 5, 8)
    with session_factory(engine).begin() as session:
        session.delete(session.get_one(SourceFile, file_id))
    with engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(SourceRecord)) == 0
        assert connection.scalar(select(func.count()).select_from(Quarantine)) == 0


def test_sqlite_uses_wal_and_enforces_foreign_keys(engine: Engine) -> None:
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    with pytest.raises(IntegrityError) as failure, session_factory(engine).begin() as session:
        session.add(record(file_id=999))
    # Errors end up in logs and in ingest_run.error: they must not carry the record.
    assert "髙橋" not in str(failure.value)


def test_payload_round_trip_and_cascade_on_sqlite(engine: Engine) -> None:
    check_round_trip_and_cascade(engine)
    with engine.connect() as connection:
        # Stored as text, not \\u escapes: payloads stay readable and small.
        add_file(engine)
        raw = connection.exec_driver_sql("SELECT payload FROM source_record").scalar()
        assert "髙橋" in raw


def test_a_rolled_back_transaction_leaves_nothing(engine: Engine) -> None:
    file_id = add_file(engine)
    with pytest.raises(RuntimeError), session_factory(engine).begin() as session:
        session.add(record(file_id))
        session.flush()  # the row reaches the database before the failure
        raise RuntimeError("stop")
    with engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(SourceRecord)) == 1


def test_without_a_url_the_store_is_sqlite_in_the_data_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from features.settings import get_settings

    monkeypatch.setenv("MIMAMORI_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("MIMAMORI_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    try:
        engine = make_engine()
        upgrade(engine)
    finally:
        get_settings.cache_clear()
    assert engine.url.get_backend_name() == "sqlite"
    assert (tmp_path / "var" / "mimamori.db").is_file()
    engine.dispose()


@pytest.mark.postgres
def test_payload_round_trip_and_cascade_on_postgres(empty_postgres: Engine) -> None:
    upgrade(empty_postgres)
    check_round_trip_and_cascade(empty_postgres)
    with pytest.raises(IntegrityError), session_factory(empty_postgres).begin() as session:
        session.add(record(file_id=999))
