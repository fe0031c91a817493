"""The same ingest on PostgreSQL: identical accounting, JSONB payloads, idempotence, rollback."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from features.ingest import run as run_module
from features.ingest.run import IngestError, ingest_extracts
from features.store.models import SourceFile, SourceRecord

RUN_DATE = dt.date(2026, 6, 30)

pytestmark = pytest.mark.postgres


def _files(engine: Engine) -> list[Any]:
    with engine.connect() as connection:
        return list(
            connection.execute(
                select(
                    SourceFile.id,
                    SourceFile.relative_path,
                    SourceFile.sha256,
                    SourceFile.rows_loaded,
                    SourceFile.rows_quarantined,
                ).order_by(SourceFile.relative_path)
            )
        )


def test_postgres_ingest_matches_sqlite(
    small_population: Path, sqlite_engine: Engine, postgres_engine: Engine
) -> None:
    extracts = small_population / "extracts"
    on_sqlite = ingest_extracts(extracts, sqlite_engine, today=RUN_DATE)
    on_postgres = ingest_extracts(extracts, postgres_engine, today=RUN_DATE)
    assert on_postgres.files == on_sqlite.files
    with postgres_engine.connect() as connection:
        assert connection.dialect.name == "postgresql"
        girls = connection.scalar(
            select(func.count())
            .select_from(SourceRecord)
            .where(
                SourceRecord.source == "registry", SourceRecord.payload["sex"].as_string() == "F"
            )
        )
        assert girls is not None and girls > 0
    again = ingest_extracts(extracts, postgres_engine, today=RUN_DATE)
    assert {f.status for f in again.files} == {"unchanged"}


def test_postgres_rolls_back_a_failed_run(
    extracts: Path, postgres_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    ingest_extracts(extracts, postgres_engine, today=RUN_DATE)
    before = _files(postgres_engine)
    path = extracts / "990001" / "arrears" / "tainou.csv"
    path.write_bytes(path.read_bytes() + path.read_bytes().splitlines(keepends=True)[1])
    real = run_module._ingest_file
    calls = 0

    def failing(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 30:
            raise RuntimeError("simulated crash")
        return real(*args, **kwargs)

    monkeypatch.setattr(run_module, "_ingest_file", failing)
    with pytest.raises(IngestError, match="simulated crash"):
        ingest_extracts(extracts, postgres_engine, today=RUN_DATE)
    assert _files(postgres_engine) == before
