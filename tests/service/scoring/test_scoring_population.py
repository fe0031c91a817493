"""Population scores equal the straightforward computation, to the bit.

The engine scores a population on the store's float32 rows as they are (a model that skips
store columns reads them through a copy renumbered to store positions) and shares the child
ids of a (month, municipality) across hardships; the reference gathers each model's own columns
as float64 and runs the champion's booster and calibrator on them.
"""

from __future__ import annotations

import types
from typing import Any

import lightgbm as lgb
import numpy as np
import pytest

from models.hardships import load_hardship_registry
from service.scoring.engine import ScoringEngine, _store_aligned_booster

HARDSHIPS = load_hardship_registry().ids


def _expected(
    engine: ScoringEngine, month: str, municipality: str, hardship: str
) -> dict[str, Any]:
    store = engine._serving.store
    assert store is not None
    m, p = store.months.index(month), store.municipalities.index(municipality)
    rows = np.flatnonzero((store.row_month == m) & (store.row_municipality == p))
    loaded = engine.champions.snapshot.get(hardship)
    assert loaded is not None
    bundle = loaded.bundle
    positions = store.column_positions(bundle.feature_names)
    x = store.values[rows][:, positions].astype(np.float64)
    probabilities = (
        bundle.calibrator.apply(np.asarray(bundle.booster.predict(x, raw_score=True)))
        if len(rows)
        else np.empty(0)
    )
    return {
        "child_ids": [store.child_ids[int(store.row_child[i])] for i in rows],
        "probabilities": probabilities,
        "already_supported": store.supported[hardship][rows],
    }


def test_every_population_equals_the_plain_computation(scoring_engine) -> None:  # type: ignore[no-untyped-def]
    engine: ScoringEngine = scoring_engine
    months = engine.months()
    engine.clear_population_cache()
    try:
        for month in (months[0], months[len(months) // 2], months[-1]):
            for hardship in HARDSHIPS:
                for municipality in engine.municipalities():
                    got = engine.population(month, municipality, hardship)
                    want = _expected(engine, month, municipality, hardship)
                    assert got.child_ids.tolist() == want["child_ids"]
                    assert got.probabilities.dtype == np.float64
                    np.testing.assert_array_equal(got.probabilities, want["probabilities"])
                    np.testing.assert_array_equal(
                        got.sorted_probabilities, np.sort(want["probabilities"])
                    )
                    np.testing.assert_array_equal(got.already_supported, want["already_supported"])
                    assert got.model_version == engine.model_version(hardship)
    finally:
        engine.clear_population_cache()


def test_hardships_share_the_child_ids_of_a_population(scoring_engine) -> None:  # type: ignore[no-untyped-def]
    engine: ScoringEngine = scoring_engine
    month, municipality = engine.latest_month or "", engine.municipalities()[0]
    engine.clear_population_cache()
    populations = [engine.population(month, municipality, h) for h in HARDSHIPS]
    assert all(p.child_ids is populations[0].child_ids for p in populations)
    assert not populations[0].child_ids.flags.writeable
    engine.clear_population_cache()
    again = engine.population(month, municipality, HARDSHIPS[0])
    assert again.child_ids is not populations[0].child_ids
    assert again.child_ids.tolist() == populations[0].child_ids.tolist()


def test_a_model_skipping_store_columns_reads_the_store_rows_directly(scoring_engine) -> None:  # type: ignore[no-untyped-def]
    models = scoring_engine._serving.models
    partial = [m for m in models.values() if not m.all_columns]
    assert partial, "the served world should have a model that excludes a feature"
    assert all(m.store_booster is not None for m in models.values())
    assert all(m.store_booster is m.loaded.bundle.booster for m in models.values() if m.all_columns)


def _store(values: np.ndarray) -> types.SimpleNamespace:
    columns = tuple(f"c{j}" for j in range(values.shape[1]))
    return types.SimpleNamespace(columns=columns, n_rows=len(values), values=values)


@pytest.fixture(scope="module")
def small_model() -> tuple[lgb.Booster, np.random.Generator]:
    rng = np.random.default_rng(7)
    x = rng.normal(size=(2000, 6))
    x[rng.random(x.shape) < 0.1] = np.nan
    y = (np.nan_to_num(x[:, 0]) + np.nan_to_num(x[:, 3]) * 0.5 > 0).astype(int)
    booster = lgb.train(
        {"objective": "binary", "num_leaves": 7, "verbose": -1, "num_threads": 1},
        lgb.Dataset(x, y),
        num_boost_round=15,
    )
    return booster, rng


def test_a_renumbered_model_scores_permuted_store_columns_exactly(small_model) -> None:  # type: ignore[no-untyped-def]
    booster, rng = small_model
    width = 9
    positions = np.array([7, 2, 0, 5, 8, 3], dtype=np.intp)
    values = rng.normal(size=(3000, width)).astype(np.float32)
    values[rng.random(values.shape) < 0.1] = np.nan
    aligned = _store_aligned_booster(booster, positions, _store(values))  # type: ignore[arg-type]
    assert aligned is not None and aligned.num_feature() == width
    expected = booster.predict(values[:, positions].astype(np.float64), raw_score=True)
    np.testing.assert_array_equal(aligned.predict(values, raw_score=True), expected)


def test_a_model_that_does_not_fit_the_store_gets_no_renumbered_copy(small_model) -> None:  # type: ignore[no-untyped-def]
    booster, rng = small_model
    values = rng.normal(size=(100, 9)).astype(np.float32)
    # Five positions for a six-feature model: the engine gathers its columns instead.
    assert _store_aligned_booster(booster, np.arange(5), _store(values)) is None  # type: ignore[arg-type]
