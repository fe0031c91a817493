"""Batch score runs: every child at an as-of month, every ready hardship (`mimamori score`).

    result = run_batch(engine, database, "2026-03", resolver=resolver, progress=progress)

A run is one `ScoreRun` row that goes running -> succeeded (or failed, with the error). Its
`ChildScore` rows are inserted in the same transaction that flips the status to succeeded, so
a run that fails or is killed midway leaves no rows anyone can read, and readers only read
succeeded runs. A killed run stays `running` with no rows; it is harmless and says when it
started.

Scores come from the engine's vectorised `population()` per (municipality, hardship), bands
from the threshold policy in force (resolved once per run, so a policy changed mid-run does not
split it), and the top reasons from LightGBM's pred_contrib for banded children only:
explaining everyone would cost most of the run for rows nobody reads.

On SQLite the final transaction holds the database's write lock while it inserts, so a
serving API's audit writes wait for it; on PostgreSQL they do not.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Protocol

import numpy as np
from sqlalchemy import Engine, insert, update
from sqlalchemy.orm import Session, sessionmaker

from service.store.models import ChildScore, ScoreRun
from service.thresholds import BandCuts, ThresholdResolver

if TYPE_CHECKING:
    from service.scoring.engine import PopulationScores, ScoringEngine

__all__ = ["REASONS_PER_CHILD", "BatchError", "BatchResult", "Progress", "run_batch"]

REASONS_PER_CHILD: Final = 3
_INSERT_CHUNK: Final = 5_000
# Engine.population's percentile uses the same slack, so batch and API agree on ties.
_TIE_SLACK: Final = 1e-12
_ERROR_LENGTH: Final = 2_000
# Scoring every child of the default population takes minutes; a day is far beyond any run.
ABANDONED_AFTER: Final = dt.timedelta(hours=24)


class BatchError(RuntimeError):
    """The run was refused (no such month, no model) or failed; the message says which."""


class Progress(Protocol):
    def start(self, description: str, total: int) -> None: ...

    def advance(self, steps: int = 1) -> None: ...


class _Silent:
    def start(self, description: str, total: int) -> None:
        pass

    def advance(self, steps: int = 1) -> None:
        pass


@dataclass(frozen=True)
class BatchResult:
    run_id: int
    month: str
    children: int
    rows: int
    banded: dict[str, int]  # hardship -> children in any band (not yet supported)
    model_versions: dict[str, str]
    policy_versions: dict[str, int | None]
    drift_flags: int
    seconds: float

    def as_rows(self) -> list[tuple[str, str]]:
        rows = [
            ("run", str(self.run_id)),
            ("as-of month", self.month),
            ("children", f"{self.children:,}"),
            ("child x hardship scores", f"{self.rows:,}"),
        ]
        rows += [
            (f"{h} v{self.model_versions[h]}", f"{n:,} in a band") for h, n in self.banded.items()
        ]
        rows += [
            ("drift flags (PSI >= 0.1)", str(self.drift_flags)),
            ("seconds", f"{self.seconds:.1f}"),
        ]
        return rows


def percentiles(population: PopulationScores) -> np.ndarray:
    """Per child, % of the municipality's children with a lower probability (as the API)."""
    ordered = population.sorted_probabilities
    if len(ordered) == 0:
        return np.empty(0, dtype=np.float64)
    below = np.searchsorted(ordered, population.probabilities - _TIE_SLACK, side="left")
    result: np.ndarray = 100.0 * below / len(ordered)
    return result


def _reason(factor: dict[str, Any]) -> list[Any]:
    value = factor.get("value")
    if isinstance(value, float) and math.isnan(value):
        value = None
    return [str(factor["feature"]), value, float(factor["log_odds"])]


def _reasons(
    engine: ScoringEngine, hardship: str, month: str, child_ids: Sequence[str]
) -> dict[str, list[list[Any]]]:
    rows = [engine.feature_row(child_id, month) for child_id in child_ids]
    present = [row for row in rows if row is not None]
    if not present:
        return {}
    scored = engine.score(present, [hardship], explain=True, top_k=REASONS_PER_CHILD)
    result: dict[str, list[list[Any]]] = {}
    for child in scored:
        explanation = child.scores[hardship].explanation or {}
        assert child.row.child_id is not None
        result[child.row.child_id] = [_reason(f) for f in explanation.get("factors", [])]
    return result


def _score_group(
    engine: ScoringEngine,
    run_id: int,
    population: PopulationScores,
    cuts: BandCuts,
) -> tuple[list[dict[str, Any]], int]:
    bands = cuts.bands(population.probabilities)
    supported = np.asarray(population.already_supported, dtype=bool)
    banded_ids = [str(c) for c, band in zip(population.child_ids, bands, strict=True) if band]
    reasons = _reasons(engine, population.hardship, population.month, banded_ids)
    shares = percentiles(population)
    rows = [
        {
            "run_id": run_id,
            "child_id": str(child_id),
            "hardship": population.hardship,
            "municipality": population.municipality,
            "probability": float(population.probabilities[i]),
            "percentile": float(shares[i]),
            "band": bands[i],
            "already_supported": bool(supported[i]),
            "model_version": population.model_version,
            "reasons": reasons.get(str(child_id)),
        }
        for i, child_id in enumerate(population.child_ids)
    ]
    return rows, int(((bands != None) & ~supported).sum())  # noqa: E711 (elementwise)


def _insert_scores(session: Session, rows: Sequence[dict[str, Any]], chunk: int) -> None:
    for start in range(0, len(rows), chunk):
        _insert_chunk(session, rows[start : start + chunk])


def _insert_chunk(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    session.execute(insert(ChildScore), list(rows))


def _start_run(factory: sessionmaker[Session], month: str, versions: dict[str, str]) -> int:
    now = dt.datetime.now(dt.UTC)
    with factory.begin() as session:
        # A run killed midway stays `running` with no rows; once it is far older than any run
        # takes, say so, so analysts listing runs do not wait for it.
        session.execute(
            update(ScoreRun)
            .where(ScoreRun.status == "running", ScoreRun.started_at < now - ABANDONED_AFTER)
            .values(
                status="abandoned",
                finished_at=now,
                error=f"no result {ABANDONED_AFTER} after it started: the run was interrupted",
            )
        )
        run = ScoreRun(
            as_of_month=month,
            started_at=now,
            status="running",
            model_versions=versions,
        )
        session.add(run)
        session.flush()
        return run.id


def _fail_run(factory: sessionmaker[Session], run_id: int, error: BaseException) -> None:
    message = f"{type(error).__name__}: {error}"[:_ERROR_LENGTH]
    with factory.begin() as session:
        session.execute(
            update(ScoreRun)
            .where(ScoreRun.id == run_id)
            .values(status="failed", finished_at=dt.datetime.now(dt.UTC), error=message)
        )


def run_batch(
    engine: ScoringEngine,
    database: Engine,
    month: str,
    *,
    resolver: ThresholdResolver | None = None,
    progress: Progress | None = None,
    measure_drift: bool = True,
    chunk: int = _INSERT_CHUNK,
    drift: Callable[..., dict[str, Any]] | None = None,
) -> BatchResult:
    """Score every child at `month` for every ready hardship and store it as one run.

    Raises BatchError when the month is not in the feature store or no model is ready
    (nothing is stored then), or when the run fails (the run is stored as failed, without rows).
    """
    began = time.perf_counter()
    progress = progress or _Silent()
    months = engine.months()
    if month not in months:
        span = f"{months[0]}..{months[-1]}" if months else "nothing"
        raise BatchError(f"the feature store has no rows at {month}; it holds {span}")
    hardships = engine.ready_hardships()
    if not hardships:
        reasons = "; ".join(f"{h}: {s.reason}" for h, s in engine.status().items())
        raise BatchError(f"no hardship has a model loaded ({reasons})")
    versions = {h: str(engine.model_version(h)) for h in hardships}
    factory = sessionmaker(database, expire_on_commit=False)
    resolver = resolver or ThresholdResolver(engine, factory)
    municipalities = engine.municipalities()
    run_id = _start_run(factory, month, versions)
    try:
        rows: list[dict[str, Any]] = []
        policy_versions: dict[str, int | None] = {}
        banded: dict[str, int] = {}
        current: dict[str, list[np.ndarray]] = {h: [] for h in hardships}
        children: set[str] = set()
        progress.start(f"scoring {month}", len(hardships) * len(municipalities))
        for hardship in hardships:
            banded[hardship] = 0
            for municipality in municipalities:
                population = engine.population(month, municipality, hardship)
                if len(population):
                    cuts = resolver.cuts(hardship, municipality, month)
                    policy_versions[f"{hardship}/{municipality}"] = cuts.policy_version
                    group, in_band = _score_group(engine, run_id, population, cuts)
                    rows += group
                    banded[hardship] += in_band
                    current[hardship].append(population.probabilities)
                    children.update(str(c) for c in population.child_ids)
                progress.advance()
        drift_document: dict[str, Any] | None = None
        if measure_drift:
            progress.start("drift against training", 1)
            from service.drift import measure_drift as measure

            drift_document = (drift or measure)(
                engine,
                resolver,
                month,
                {h: np.concatenate(p) if p else np.empty(0) for h, p in current.items()},
            )
            progress.advance()
        progress.start("storing scores", 1)
        with factory.begin() as session:
            _insert_scores(session, rows, chunk)
            session.execute(
                update(ScoreRun)
                .where(ScoreRun.id == run_id)
                .values(
                    status="succeeded",
                    finished_at=dt.datetime.now(dt.UTC),
                    children=len(children),
                    policy_versions=policy_versions,
                    drift=drift_document,
                )
            )
        progress.advance()
    except Exception as error:
        _fail_run(factory, run_id, error)
        raise BatchError(
            f"run {run_id} at {month} failed: {type(error).__name__}: {error}"
        ) from error
    return BatchResult(
        run_id=run_id,
        month=month,
        children=len(children),
        rows=len(rows),
        banded=banded,
        model_versions=versions,
        policy_versions=policy_versions,
        drift_flags=len((drift_document or {}).get("flags", [])),
        seconds=time.perf_counter() - began,
    )
