"""A whole ingest on a generated population: counts reconcile, every injected defect is
quarantined where it was injected, re-ingest is idempotent, and a failed run changes nothing."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import Engine, func, select

from features.ingest import run as run_module
from features.ingest.run import IngestError, IngestReport, ingest_extracts
from features.store.database import make_engine
from features.store.migrate import SchemaNotCurrentError, upgrade
from features.store.models import IngestRun, Quarantine, SourceFile, SourceRecord

RUN_DATE = dt.date(2026, 6, 30)
DEFECT_REASONS = {
    "empty_name": "missing_required",
    "impossible_date": "impossible_date",
    "duplicate_row": "duplicate_row",
}


def snapshot(engine: Engine) -> dict[str, Any]:
    """Everything the store holds about files and rows, including row IDs."""
    with engine.connect() as connection:
        files = connection.execute(
            select(
                SourceFile.id,
                SourceFile.relative_path,
                SourceFile.sha256,
                SourceFile.run_id,
                SourceFile.rows_read,
                SourceFile.rows_loaded,
                SourceFile.rows_quarantined,
            ).order_by(SourceFile.relative_path)
        ).all()
        records = connection.execute(
            select(
                SourceRecord.id,
                SourceRecord.source_file_id,
                SourceRecord.line,
                SourceRecord.local_id,
                SourceRecord.known_date,
                SourceRecord.payload,
            ).order_by(SourceRecord.id)
        ).all()
        quarantine = connection.execute(
            select(Quarantine.source_file_id, Quarantine.line, Quarantine.reason).order_by(
                Quarantine.id
            )
        ).all()
    return {"files": files, "records": records, "quarantine": quarantine}


@pytest.fixture(scope="module")
def ingested(
    small_population: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[IngestReport, Engine]]:
    """One ingest of the untouched population, shared by the read-only checks."""
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('store') / 'store.db'}")
    upgrade(engine)
    report = ingest_extracts(small_population / "extracts", engine, today=RUN_DATE)
    yield report, engine
    engine.dispose()


def test_counts_reconcile_per_file(
    ingested: tuple[IngestReport, Engine], small_population: Path
) -> None:
    report, engine = ingested
    manifest = json.loads((small_population / "extracts" / "manifest.json").read_text())
    expected = {path: n for path, n in manifest["files"].items() if "gaiji_map" not in path}
    assert {f.relative_path: f.rows_read for f in report.files} == expected
    with engine.connect() as connection:
        loaded = {
            path: count
            for path, count in connection.execute(
                select(SourceFile.relative_path, func.count(SourceRecord.id))
                .join(SourceRecord, isouter=True)
                .group_by(SourceFile.relative_path)
            )
        }
        stored = {
            path: quarantined
            for path, quarantined in connection.execute(
                select(SourceFile.relative_path, SourceFile.rows_quarantined)
            )
        }
    for file in report.files:
        assert file.rows_read == file.rows_loaded + file.rows_quarantined
        assert sum(file.reasons.values()) == file.rows_quarantined
        assert loaded[file.relative_path] == file.rows_loaded
        assert stored[file.relative_path] == file.rows_quarantined
    assert report.unrecognised_files == []


def test_the_catalogue_maps_every_generated_header(ingested: tuple[IngestReport, Engine]) -> None:
    report, _ = ingested
    assert {f.relative_path: f.unmapped_columns for f in report.files if f.unmapped_columns} == {}
    assert {
        f.relative_path: f.missing_optional_columns
        for f in report.files
        if f.missing_optional_columns
    } == {}
    encodings = {f.municipality: f.encoding for f in report.files}
    assert encodings == {"990001": "cp932", "990002": "utf-8", "990003": "cp932", "990004": "utf-8"}


def test_every_injected_defect_is_quarantined_at_its_line(
    ingested: tuple[IngestReport, Engine], small_population: Path
) -> None:
    _, engine = ingested
    defects = pd.read_parquet(small_population / "ground_truth" / "defects.parquet")
    assert len(defects) > 0
    with engine.connect() as connection:
        quarantined = {
            (path, line): reason
            for path, line, reason in connection.execute(
                select(SourceFile.relative_path, Quarantine.line, Quarantine.reason).join(
                    SourceFile
                )
            )
        }
    for file, line, defect in defects.itertuples(index=False):
        assert quarantined.get((file, line)) == DEFECT_REASONS[defect], (file, line, defect)
    injected = set(zip(defects["file"], defects["line"], strict=True))
    # Only the injected defects are quarantined: every other generated row is valid.
    others = {key: reason for key, reason in quarantined.items() if key not in injected}
    assert others == {}


def test_loaded_rows_carry_dates_and_ids(ingested: tuple[IngestReport, Engine]) -> None:
    _, engine = ingested
    with engine.connect() as connection:
        kinds = {
            source: kind
            for source, kind in connection.execute(
                select(SourceRecord.source, func.min(SourceRecord.id_kind)).group_by(
                    SourceRecord.source
                )
            )
        }
        late = connection.scalar(
            select(func.count()).select_from(SourceRecord).where(SourceRecord.known_date > RUN_DATE)
        )
    assert kinds["attendance"] == "pupil"
    assert kinds["epds"] == "maternal_record"
    assert kinds["tax"] == "atena"
    assert late == 0


def test_reingesting_identical_files_changes_nothing(extracts: Path, sqlite_engine: Engine) -> None:
    first = ingest_extracts(extracts, sqlite_engine, today=RUN_DATE)
    before = snapshot(sqlite_engine)
    second = ingest_extracts(extracts, sqlite_engine, today=RUN_DATE)
    assert {f.status for f in first.files} == {"loaded"}
    assert {f.status for f in second.files} == {"unchanged"}
    assert [(f.rows_read, f.reasons) for f in second.files] == [
        (f.rows_read, f.reasons) for f in first.files
    ]
    assert snapshot(sqlite_engine) == before


def test_a_changed_file_replaces_only_its_own_records(
    extracts: Path, sqlite_engine: Engine
) -> None:
    ingest_extracts(extracts, sqlite_engine, today=RUN_DATE)
    before = snapshot(sqlite_engine)
    changed = extracts / "990002" / "tax" / "juminzei.csv"
    lines = changed.read_bytes().splitlines(keepends=True)
    changed.write_bytes(b"".join(lines[:-3]))  # three rows fewer
    report = ingest_extracts(extracts, sqlite_engine, today=RUN_DATE)
    statuses = {f.relative_path: f.status for f in report.files}
    assert statuses.pop("990002/tax/juminzei.csv") == "replaced"
    assert set(statuses.values()) == {"unchanged"}
    after = snapshot(sqlite_engine)
    changed_id = next(
        f.id for f in before["files"] if f.relative_path.endswith("990002/tax/juminzei.csv")
    )
    kept = [r for r in before["records"] if r.source_file_id != changed_id]
    new_file = next(f for f in after["files"] if f.relative_path == "990002/tax/juminzei.csv")
    assert [r for r in after["records"] if r.source_file_id != new_file.id] == kept
    assert new_file.rows_read == len(lines) - 1 - 3
    assert sum(r.source_file_id == new_file.id for r in after["records"]) == new_file.rows_loaded


def test_a_failure_midway_leaves_the_previous_state_intact(
    extracts: Path, sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    ingest_extracts(extracts, sqlite_engine, today=RUN_DATE)
    before = snapshot(sqlite_engine)
    # Change two files, one before and one after the point of failure.
    for relative in ("990001/arrears/tainou.csv", "990004/tax/juminzei.csv"):
        path = extracts / relative
        path.write_bytes(path.read_bytes()[:-200].rsplit(b"\n", 1)[0] + b"\n")
    real = run_module._ingest_file
    calls = 0

    def failing(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 40:
            raise OSError("disk went away")
        return real(*args, **kwargs)

    monkeypatch.setattr(run_module, "_ingest_file", failing)
    with pytest.raises(IngestError, match="disk went away"):
        ingest_extracts(extracts, sqlite_engine, today=RUN_DATE)
    assert snapshot(sqlite_engine) == before
    with sqlite_engine.connect() as connection:
        runs = connection.execute(
            select(IngestRun.status, IngestRun.error).order_by(IngestRun.id)
        ).all()
    assert [status for status, _ in runs] == ["succeeded", "failed"]
    assert "disk went away" in (runs[-1].error or "")
    monkeypatch.undo()
    report = ingest_extracts(extracts, sqlite_engine, today=RUN_DATE)
    replaced = {f.relative_path for f in report.files if f.status == "replaced"}
    assert replaced == {"990001/arrears/tainou.csv", "990004/tax/juminzei.csv"}


def test_an_unmigrated_database_is_refused(extracts: Path, tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    with pytest.raises(SchemaNotCurrentError, match="upgrade"):
        ingest_extracts(extracts, engine, today=RUN_DATE)
    engine.dispose()


def test_progress_report_and_stray_files(extracts: Path, sqlite_engine: Engine) -> None:
    (extracts / "990001" / "notes.txt").write_text("handed over by hand", encoding="utf-8")
    (extracts / "990001" / "daycare").mkdir()
    (extracts / "990001" / "daycare" / "hoiku.csv").write_text("a,b\n", encoding="utf-8")
    calls: list[tuple[str, int]] = []

    class Recorder:
        def start(self, description: str, total: int) -> None:
            calls.append((description, total))

        def advance(self, steps: int = 1) -> None:
            calls.append(("advance", steps))

    report = ingest_extracts(extracts, sqlite_engine, progress=Recorder(), today=RUN_DATE)
    assert calls[0] == ("ingest extracts", len(report.files))
    assert sum(steps for what, steps in calls[1:] if what == "advance") == len(report.files)
    assert report.unrecognised_files == ["990001/daycare/hoiku.csv", "990001/notes.txt"]
    rows = dict(report.as_rows())
    assert rows["rows read"] == f"{report.rows_read:,}"
    assert "990001/notes.txt" in rows
    # A file that disappears keeps its records (extracts may be monthly deltas).
    shutil.rmtree(extracts / "990004" / "epds")
    again = ingest_extracts(extracts, sqlite_engine, today=RUN_DATE)
    assert again.absent_files == ["990004/epds/epds.csv"]


def test_a_municipality_catalogue_reads_its_own_headers(
    extracts: Path, sqlite_engine: Engine
) -> None:
    path = extracts / "990002" / "registry" / "jumin.csv"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("氏名カナ", "カナ氏名", 1), encoding="utf-8")
    report = ingest_extracts(extracts, sqlite_engine, today=RUN_DATE)
    registry = next(f for f in report.files if f.relative_path == "990002/registry/jumin.csv")
    assert registry.unmapped_columns == ("カナ氏名",)
    (extracts / "990002" / "catalogue.yaml").write_text(
        "sources:\n  registry:\n    encoding: utf-8\n    headers:\n      カナ氏名: 氏名カナ\n",
        encoding="utf-8",
    )
    report = ingest_extracts(extracts, sqlite_engine, today=RUN_DATE)
    statuses = {f.relative_path: f.status for f in report.files}
    # Every 990002 file is re-read (its catalogue changed); other towns' files are not.
    assert statuses["990002/registry/jumin.csv"] == "replaced"
    assert statuses["990002/tax/juminzei.csv"] == "replaced"
    assert statuses["990001/registry/jumin.csv"] == "unchanged"
    registry = next(f for f in report.files if f.relative_path == "990002/registry/jumin.csv")
    assert registry.unmapped_columns == ()
    assert "990002/catalogue.yaml" not in report.unrecognised_files


def test_a_reading_worker_loads_exactly_what_one_process_loads(
    ingested: tuple[IngestReport, Engine],
    extracts: Path,
    sqlite_engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(run_module, "_WORKER_MIN_BYTES", 0)
    report = ingest_extracts(extracts, sqlite_engine, today=RUN_DATE)
    expected, engine = ingested
    assert report.files == expected.files
    assert snapshot(sqlite_engine) == snapshot(engine)


def test_a_failure_with_a_reading_worker_leaves_the_previous_state_intact(
    extracts: Path, sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    ingest_extracts(extracts, sqlite_engine, today=RUN_DATE)
    before = snapshot(sqlite_engine)
    for relative in ("990001/arrears/tainou.csv", "990004/tax/juminzei.csv"):
        path = extracts / relative
        path.write_bytes(path.read_bytes()[:-200].rsplit(b"\n", 1)[0] + b"\n")
    monkeypatch.setattr(run_module, "_WORKER_MIN_BYTES", 0)
    real = run_module._BulkWriter.write
    calls = 0

    def failing(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise OSError("disk went away")
        return real(*args, **kwargs)

    monkeypatch.setattr(run_module._BulkWriter, "write", failing)
    with pytest.raises(IngestError, match="disk went away"):
        ingest_extracts(extracts, sqlite_engine, today=RUN_DATE)
    assert snapshot(sqlite_engine) == before


def test_a_first_load_rebuilds_the_record_indexes(ingested: tuple[IngestReport, Engine]) -> None:
    _, engine = ingested
    with engine.connect() as connection:
        names = {
            row[0]
            for row in connection.exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'source_record'"
            )
        }
    assert {index.name for index in SourceRecord.__table__.indexes} <= names
