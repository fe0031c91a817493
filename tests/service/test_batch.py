"""Batch score runs on the served world: every child x ready hardship stored in one go, bands
and reasons as the policy says, and a failure midway leaves no run anyone can read."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from features.store.database import make_engine, session_factory
from service import batch
from service.batch import BatchError, run_batch
from service.scoring.champions import Champions
from service.scoring.engine import ScoringEngine
from service.store.migrate import upgrade
from service.store.models import ChildScore, ScoreRun
from service.thresholds import BandRule, ThresholdPolicy, ThresholdResolver, save_policy


@pytest.fixture(scope="module")
def engine(served_world) -> ScoringEngine:  # type: ignore[no-untyped-def]
    from models.hardships import load_hardship_registry

    champions = Champions(served_world.tracking_uri, load_hardship_registry().ids)
    scoring = ScoringEngine(champions, served_world.features_dir)
    scoring.reload()
    assert scoring.ready, scoring.status()
    return scoring


def _copy_sqlite(source: Path, target: Path) -> None:
    # The backup API includes what is still in the write-ahead log; a file copy might not.
    origin, copy = sqlite3.connect(source), sqlite3.connect(target)
    try:
        origin.backup(copy)
    finally:
        origin.close()
        copy.close()


@pytest.fixture
def database(served_world, tmp_path: Path) -> Iterator[Engine]:  # type: ignore[no-untyped-def]
    copy = tmp_path / "mimamori.db"
    _copy_sqlite(served_world.data_dir / "mimamori.db", copy)
    db = make_engine(f"sqlite:///{copy}")
    upgrade(db)
    yield db
    db.dispose()


def _rows(database: Engine, run_id: int | None = None) -> list[ChildScore]:
    with Session(database) as session:
        query = select(ChildScore)
        if run_id is not None:
            query = query.where(ChildScore.run_id == run_id)
        return list(session.scalars(query).all())


def test_a_run_stores_every_child_for_every_ready_hardship(
    engine: ScoringEngine, database: Engine
) -> None:
    month = engine.latest_month
    assert month is not None
    # One municipality gets a policy of its own: a fixed cut for abuse.
    with Session(database) as session:
        save_policy(
            session,
            "abuse",
            "990001",
            ThresholdPolicy(high=BandRule(probability=0.02)),
            who="admin",
            why="test",
        )
        session.commit()
    result = run_batch(engine, database, month, measure_drift=False)

    expected_children = sum(
        len(engine.population(month, m, "abuse")) for m in engine.municipalities()
    )
    hardships = engine.ready_hardships()
    rows = _rows(database, result.run_id)
    assert result.children == expected_children
    assert len(rows) == result.rows == expected_children * len(hardships)
    assert len({(r.child_id, r.hardship) for r in rows}) == len(rows)
    assert {r.hardship for r in rows} == set(hardships)

    with Session(database) as session:
        run = session.get(ScoreRun, result.run_id)
        assert run is not None
        assert run.status == "succeeded" and run.finished_at is not None
        assert run.children == expected_children
        assert run.model_versions == {h: engine.model_version(h) for h in hardships}
        assert run.policy_versions is not None
        assert run.policy_versions["abuse/990001"] == 1
        assert run.policy_versions["abuse/990002"] is None  # the default policy

    # Scores agree with the engine, bands with the policies, reasons only for banded rows.
    population = engine.population(month, "990001", "abuse")
    by_child = {r.child_id: r for r in rows if r.hardship == "abuse"}
    for child_id, probability in zip(population.child_ids, population.probabilities, strict=True):
        row = by_child[str(child_id)]
        assert row.probability == pytest.approx(float(probability))
        assert row.band == ("high" if probability >= 0.02 else None)
    for row in rows:
        assert 0.0 <= row.percentile <= 100.0
        if row.band is None:
            assert row.reasons is None
        else:
            assert row.reasons, row
            assert len(row.reasons) <= 3
            feature, _value, contribution = row.reasons[0]
            assert isinstance(feature, str) and isinstance(contribution, float)
            # Largest effect first.
            sizes = [abs(r[2]) for r in row.reasons]
            assert sizes == sorted(sizes, reverse=True)
    # The default policy's high band fills at most 2.5 % of the not-yet-supported children.
    poverty = [r for r in rows if r.hardship == "poverty" and r.municipality == "990002"]
    eligible = sum(not r.already_supported for r in poverty)
    high = sum(r.band == "high" and not r.already_supported for r in poverty)
    assert 0 < high <= int(np.floor(eligible * 0.025 + 0.5))


def test_a_run_measures_drift(engine: ScoringEngine, database: Engine) -> None:
    month = engine.latest_month
    assert month is not None
    result = run_batch(engine, database, month)
    with Session(database) as session:
        run = session.get(ScoreRun, result.run_id)
        assert run is not None and run.drift is not None
        drift = run.drift
    assert set(drift["scores"]) == set(engine.ready_hardships())
    assert "absence_days_3m" in drift["features"]
    assert drift["missing"] and all(
        0.0 <= (entry["current"] or 0.0) <= 1.0 for entry in drift["missing"].values()
    )
    assert drift["rows"]["current"] == result.children
    assert drift["reference"]["train"]
    assert result.drift_flags == len(drift["flags"])


def test_a_failure_while_storing_leaves_no_rows_and_a_failed_run(
    engine: ScoringEngine, database: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    month = engine.latest_month
    assert month is not None
    calls = {"n": 0}
    real = batch._insert_chunk

    def insert_then_fail(session: Session, rows: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("disk full")
        real(session, rows)

    monkeypatch.setattr(batch, "_insert_chunk", insert_then_fail)
    with pytest.raises(BatchError, match="disk full"):
        run_batch(engine, database, month, measure_drift=False, chunk=500)
    assert calls["n"] == 3  # two chunks were written inside the transaction before the failure
    with Session(database) as session:
        runs = session.scalars(select(ScoreRun)).all()
        assert [(r.status, r.error) for r in runs] == [("failed", "RuntimeError: disk full")]
        assert session.scalar(select(func.count()).select_from(ChildScore)) == 0


def test_a_failure_while_scoring_leaves_no_succeeded_run(
    engine: ScoringEngine, database: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    month = engine.latest_month
    assert month is not None
    resolver = ThresholdResolver(engine, session_factory(database))
    real = resolver.cuts
    seen: list[str] = []

    def cuts_then_fail(hardship: str, municipality: str, when: str | None = None) -> Any:
        seen.append(hardship)
        if len(set(seen)) > 1:
            raise ValueError("policy store unreachable")
        return real(hardship, municipality, when)

    monkeypatch.setattr(resolver, "cuts", cuts_then_fail)
    with pytest.raises(BatchError, match="policy store unreachable"):
        run_batch(engine, database, month, resolver=resolver, measure_drift=False)
    with Session(database) as session:
        statuses = session.scalars(select(ScoreRun.status)).all()
        assert statuses == ["failed"]
    assert _rows(database) == []


def test_a_month_outside_the_store_is_refused_before_anything_is_stored(
    engine: ScoringEngine, database: Engine
) -> None:
    with pytest.raises(BatchError, match="no rows at 2031-01"):
        run_batch(engine, database, "2031-01")
    with Session(database) as session:
        assert session.scalar(select(func.count()).select_from(ScoreRun)) == 0


def test_the_score_command(served_world, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from mimamori.cli import app

    data_dir = tmp_path / "var"
    data_dir.mkdir()
    _copy_sqlite(served_world.data_dir / "mimamori.db", data_dir / "mimamori.db")
    _copy_sqlite(served_world.data_dir / "mlflow.db", data_dir / "mlflow.db")
    (data_dir / "features").symlink_to(served_world.features_dir)
    runner = CliRunner()

    bad = runner.invoke(app, ["score", "--as-of", "March", "--data-dir", str(data_dir)])
    assert bad.exit_code == 2
    assert "error: --as-of must be a month like 2026-03" in bad.output
    assert "Traceback" not in bad.output

    absent = runner.invoke(app, ["score", "--as-of", "2031-01", "--data-dir", str(data_dir)])
    assert absent.exit_code == 2
    assert "no rows at 2031-01" in absent.output

    done = runner.invoke(
        app, ["score", "--as-of", "2026-03", "--no-drift", "--data-dir", str(data_dir)]
    )
    assert done.exit_code == 0, done.output
    db = make_engine(f"sqlite:///{data_dir / 'mimamori.db'}")
    try:
        with Session(db) as session:
            assert session.scalars(select(ScoreRun.status)).all() == ["succeeded"]
    finally:
        db.dispose()


def test_a_run_still_running_a_day_later_is_marked_abandoned_by_the_next(
    engine: ScoringEngine, database: Engine
) -> None:
    import datetime as dt

    from service.batch import ABANDONED_AFTER

    now = dt.datetime.now(dt.UTC)
    with Session(database) as session, session.begin():
        stale = ScoreRun(
            as_of_month="2026-03",
            started_at=now - ABANDONED_AFTER - dt.timedelta(minutes=1),
            status="running",
            model_versions={},
        )
        fresh = ScoreRun(as_of_month="2026-03", started_at=now, status="running", model_versions={})
        session.add_all([stale, fresh])
        session.flush()
        stale_id, fresh_id = stale.id, fresh.id
    month = engine.latest_month
    assert month is not None
    run_batch(engine, database, month, measure_drift=False)
    with Session(database) as session:
        stale_after, fresh_after = session.get(ScoreRun, stale_id), session.get(ScoreRun, fresh_id)
        assert stale_after is not None and stale_after.status == "abandoned"
        assert stale_after.error and "interrupted" in stale_after.error
        # One that may still be going is left alone.
        assert fresh_after is not None and fresh_after.status == "running"
