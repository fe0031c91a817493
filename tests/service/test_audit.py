"""The audit log's hash chain: appends link up, tampering is found, concurrent appends never fork.

These tests need no app: they drive service.audit on a fresh database (SQLite file, and
PostgreSQL when a server answers).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, delete, func, insert, select, text, update
from typer.testing import CliRunner

from features.store.database import make_engine
from service.audit import (
    GENESIS_SHA256,
    AuditContext,
    AuditRecord,
    append_entries,
    entry_sha256,
    verify_chain,
)
from service.store.migrate import upgrade
from service.store.models import AuditEntry


def _record(i: int, child: str | None = None, status: int = 200) -> AuditRecord:
    return AuditRecord(
        at=dt.datetime(2026, 4, 1, 9, 0, i % 60, 123456, tzinfo=dt.UTC),
        method="POST",
        route="/v1/scores",
        status_code=status,
        outcome="answered" if status < 400 else "refused",
        key_id="k1",
        role="vendor_system",
        purpose="child_welfare_screening",
        child_id=child or f"child{i:04d}",
        municipality="990001",
    )


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'audit.db'}")
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest) -> Engine:
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_engine")  # type: ignore[no-any-return]
    postgres: Engine = request.getfixturevalue("empty_postgres")
    upgrade(postgres)
    return postgres


def test_first_entry_links_to_genesis_and_each_to_the_one_before(engine: Engine) -> None:
    append_entries(engine, [_record(1), _record(2)])
    append_entries(engine, [_record(3)])
    with engine.connect() as connection:
        rows = connection.execute(select(AuditEntry).order_by(AuditEntry.seq)).all()
    assert [row.seq for row in rows] == [1, 2, 3]
    assert rows[0].previous_sha256 == GENESIS_SHA256
    for before, after in itertools.pairwise(rows):
        assert after.previous_sha256 == before.entry_sha256
    # The hash is the documented formula, recomputable from the stored row alone.
    assert rows[2].entry_sha256 == entry_sha256(rows[1].entry_sha256, dict(rows[2]._mapping))
    assert verify_chain(engine).describe() == "3 entries, chain intact"


def test_entries_are_stored_as_the_column_types_store_them(engine: Engine) -> None:
    """append_entries writes on the driver's cursor: what it stores must be what an insert
    through SQLAlchemy stores for the same values (timestamps above all), read back equal."""
    detailed = AuditRecord(**{**_record(1).__dict__, "detail": "no purpose", "key_id": None})
    append_entries(engine, [detailed])
    with engine.connect() as connection:
        stored = dict(connection.execute(select(AuditEntry)).one()._mapping)
    with engine.begin() as connection:
        connection.execute(insert(AuditEntry), [{**stored, "seq": 2, "entry_sha256": "f" * 64}])
    columns = ", ".join(c.name for c in AuditEntry.__table__.columns if c.name != "seq")
    with engine.connect() as connection:
        raw = connection.exec_driver_sql(f"SELECT {columns} FROM audit_entry ORDER BY seq").all()
    by_driver, by_sqlalchemy = (dict(zip(columns.split(", "), row, strict=True)) for row in raw)
    assert by_driver == {**by_sqlalchemy, "entry_sha256": by_driver["entry_sha256"]}
    assert stored["at"] == detailed.at


def test_an_empty_log_is_intact(engine: Engine) -> None:
    verdict = verify_chain(engine)
    assert verdict.intact and verdict.entries == 0


@pytest.mark.parametrize(
    "change",
    [
        {"status_code": 404},
        {"child_id": "someone_else"},
        {"key_id": None},
        {"detail": "added later"},
        {"at": dt.datetime(2026, 4, 1, 9, 0, 0, tzinfo=dt.UTC)},
    ],
)
def test_an_edited_entry_breaks_the_chain_at_that_entry(
    engine: Engine, change: dict[str, object]
) -> None:
    append_entries(engine, [_record(i) for i in range(1, 6)])
    with engine.begin() as connection:
        connection.execute(update(AuditEntry).where(AuditEntry.seq == 3).values(**change))
    verdict = verify_chain(engine)
    assert not verdict.intact
    assert verdict.broken_seq == 3
    assert verdict.entries == 2
    assert "edited" in (verdict.reason or "")


def test_an_edit_that_also_rewrites_its_own_hash_is_found_at_the_next_entry(
    engine: Engine,
) -> None:
    append_entries(engine, [_record(i) for i in range(1, 6)])
    with engine.connect() as connection:
        row = connection.execute(select(AuditEntry).where(AuditEntry.seq == 2)).one()
    forged = {**row._mapping, "status_code": 200, "child_id": "forged"}
    with engine.begin() as connection:
        connection.execute(
            update(AuditEntry)
            .where(AuditEntry.seq == 2)
            .values(
                child_id="forged",
                entry_sha256=entry_sha256(row.previous_sha256, forged),
            )
        )
    verdict = verify_chain(engine)
    assert verdict.broken_seq == 3
    assert "does not link" in (verdict.reason or "")


def test_a_deleted_entry_breaks_the_chain(engine: Engine) -> None:
    append_entries(engine, [_record(i) for i in range(1, 6)])
    with engine.begin() as connection:
        connection.execute(delete(AuditEntry).where(AuditEntry.seq == 2))
    verdict = verify_chain(engine)
    assert verdict.broken_seq == 2
    assert "missing" in (verdict.reason or "")


def test_deleting_and_renumbering_is_still_found(engine: Engine) -> None:
    append_entries(engine, [_record(i) for i in range(1, 5)])
    with engine.begin() as connection:
        connection.execute(delete(AuditEntry).where(AuditEntry.seq == 2))
        for seq in (3, 4):
            connection.execute(update(AuditEntry).where(AuditEntry.seq == seq).values(seq=seq - 1))
    verdict = verify_chain(engine)
    assert verdict.broken_seq == 2


def test_deleting_the_first_entry_is_found(engine: Engine) -> None:
    append_entries(engine, [_record(i) for i in range(1, 4)])
    with engine.begin() as connection:
        connection.execute(delete(AuditEntry).where(AuditEntry.seq == 1))
    assert verify_chain(engine).broken_seq == 1


def test_concurrent_appends_from_many_connections_never_fork_the_chain(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without the in-process lock the threads race on the database lock alone, as separate
    # processes (several uvicorn workers, `mimamori score`) would.
    from service import audit

    monkeypatch.setattr(audit, "_process_lock", contextlib.nullcontext())
    url = engine.url
    connect_args = {}
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            schema = connection.execute(text("SELECT current_schema()")).scalar_one()
        connect_args = {"options": f"-csearch_path={schema}"}
    threads, per_thread = 6, 15
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def worker(n: int) -> None:
        own = make_engine(url, connect_args=connect_args)
        try:
            start.wait()
            for i in range(per_thread):
                append_entries(own, [_record(i, child=f"t{n}-{i}")])
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)
        finally:
            own.dispose()

    workers = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    assert not errors, errors
    verdict = verify_chain(engine)
    assert verdict.intact, verdict.describe()
    assert verdict.entries == threads * per_thread
    with engine.connect() as connection:
        distinct_parents = connection.execute(
            select(func.count(func.distinct(AuditEntry.previous_sha256)))
        ).scalar_one()
    assert distinct_parents == threads * per_thread


def test_an_append_waits_for_one_in_progress(sqlite_engine: Engine) -> None:
    """The tail lock really holds: a second writer cannot read the tail until the first commits."""
    from service.audit import _lock_tail

    other = make_engine(sqlite_engine.url)
    finished: list[str] = []
    with sqlite_engine.begin() as connection:
        _lock_tail(connection)
        thread = threading.Thread(
            target=lambda: (append_entries(other, [_record(1)]), finished.append("other"))
        )
        thread.start()
        thread.join(timeout=0.5)
        assert not finished, "the second append ran while the first held the tail"
        finished.append("first")
    thread.join(timeout=10)
    other.dispose()
    assert finished == ["first", "other"]


def test_context_records_one_entry_per_child_or_one_without_a_child() -> None:
    context = AuditContext(method="GET", route="/v1/children/{child_id}/scores")
    context.path_child_id = "abc"
    at = dt.datetime.now(dt.UTC)
    (refused,) = context.records(401, at)
    assert (refused.child_id, refused.outcome, refused.key_id) == ("abc", "unauthenticated", None)
    context.child("abc", "990001")
    context.child("def", None)
    records = context.records(200, at)
    assert [(r.child_id, r.municipality) for r in records] == [("abc", "990001"), ("def", None)]
    too_long = AuditContext(method="GET", route="/x", path_child_id="x" * 500)
    assert too_long.records(404, at)[0].child_id is None


def test_audit_verify_command_reports_intact_and_broken(tmp_path: Path) -> None:
    from mimamori.cli import app

    data_dir = tmp_path / "var"
    data_dir.mkdir()
    engine = make_engine(f"sqlite:///{(data_dir / 'mimamori.db').resolve()}")
    upgrade(engine)
    append_entries(engine, [_record(i) for i in range(1, 5)])
    runner = CliRunner()
    result = runner.invoke(app, ["audit", "verify", "--data-dir", str(data_dir)])
    assert result.exit_code == 0, result.output
    assert "4 entries, chain intact" in result.output
    with engine.begin() as connection:
        connection.execute(delete(AuditEntry).where(AuditEntry.seq == 3))
    engine.dispose()
    result = runner.invoke(app, ["audit", "verify", "--data-dir", str(data_dir)])
    assert result.exit_code == 1
    assert "chain broken at seq 3" in result.output
