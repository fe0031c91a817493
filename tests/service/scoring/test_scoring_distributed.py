"""Batch scoring on Dask gives the in-process scores: per partition, across a local cluster, and
against the serving engine on the served world."""

from __future__ import annotations

import json
from pathlib import Path

import dask
import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from distributed import Client, LocalCluster

from models.bundle import Calibrator, ModelBundle, encode_features
from service.scoring.distributed import (
    champion_models,
    probability_column,
    read_feature_months,
    reasons_column,
    score_feature_store,
    score_frame,
    score_partition,
    scoring_models,
)

MONTHS = ["2025-01", "2025-02", "2025-03"]
FEATURES = ("absence_days_3m", "single_parent", "household_size", "tax_income_band")


def _frame(children: int = 300, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for month in MONTHS:
        values = rng.normal(size=(children, 3)).astype(np.float32)
        values[rng.random(values.shape) < 0.1] = np.nan
        rows.append(
            pd.DataFrame(
                {
                    "person_id": [f"c{i:04d}" for i in range(children)],
                    "as_of_month": month,
                    "municipality": np.where(np.arange(children) % 2, "990001", "990002"),
                    "absence_days_3m": values[:, 0],
                    "single_parent": values[:, 1],
                    "household_size": values[:, 2],
                    "tax_income_band": rng.choice(["low", "middle", "high", None], children),
                }
            )
        )
    return pd.concat(rows, ignore_index=True)


def _bundle(frame: pd.DataFrame, seed: int) -> ModelBundle:
    maps = {"tax_income_band": ("high", "low", "middle")}
    x = encode_features(frame, FEATURES, maps)
    rng = np.random.default_rng(seed)
    y = (np.nan_to_num(x[:, 0]) + (x[:, 3] == 1) + rng.normal(size=len(x)) > 1).astype(int)
    booster = lgb.train(
        {"objective": "binary", "num_leaves": 7, "verbose": -1, "seed": seed},
        lgb.Dataset(x, y, feature_name=list(FEATURES), categorical_feature=[3]),
        num_boost_round=20,
    )
    return ModelBundle(
        booster=booster,
        feature_names=FEATURES,
        category_maps=maps,
        calibrator=Calibrator("platt", {"a": (0.9,), "b": (-0.2,)}),
        metadata={"hardship": "poverty"},
    )


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return _frame()


@pytest.fixture(scope="module")
def models(frame: pd.DataFrame):  # type: ignore[no-untyped-def]
    return scoring_models(
        {"poverty": _bundle(frame, 1), "truancy": _bundle(frame, 2)},
        {"poverty": "4", "truancy": "2"},
    )


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, frame: pd.DataFrame) -> Path:
    path = tmp_path_factory.mktemp("store") / "features.parquet"
    # Small row groups, as a large store has, so that filters skip whole groups.
    frame.to_parquet(path, index=False, row_group_size=100)
    return path


def test_a_partition_scores_as_its_bundles_do(frame, models) -> None:  # type: ignore[no-untyped-def]
    scored = score_partition(frame, models)
    assert list(scored.columns) == [
        "person_id",
        "as_of_month",
        "municipality",
        "probability_poverty",
        "probability_truancy",
    ]
    for model in models:
        expected = model.bundle.score(model.bundle.encode(frame))
        np.testing.assert_array_equal(scored[probability_column(model.hardship)], expected)


def test_reasons_are_the_top_factors_of_the_children_explained(frame, models) -> None:  # type: ignore[no-untyped-def]
    poverty = models[0]
    cut = float(np.quantile(poverty.bundle.score(poverty.bundle.encode(frame)), 0.8))
    scored = score_partition(frame, models[:1], explain_top_k=2, explain_from={"poverty": cut})
    above = scored["probability_poverty"] >= cut
    reasons = scored[reasons_column("poverty")]
    assert reasons[~above].isna().all()
    assert reasons[above].notna().all()
    rows = poverty.bundle.encode(frame[above.to_numpy()])
    contributions = poverty.bundle.contributions(rows)[:, :-1]
    for text, row, contribution in zip(reasons[above], rows, contributions, strict=True):
        factors = json.loads(text)
        top = np.argsort(-np.abs(contribution), kind="stable")[: len(factors)]
        assert [f[0] for f in factors] == [FEATURES[j] for j in top if contribution[j] != 0]
        assert [f[2] for f in factors] == pytest.approx(contribution[top].tolist())
        for name, value, _ in factors:
            j = FEATURES.index(name)
            if np.isnan(row[j]):
                assert value is None
            elif name == "tax_income_band":
                assert value == ("high", "low", "middle")[int(row[j])]
            else:
                assert value == pytest.approx(row[j])


def test_an_empty_partition_scores_to_an_empty_frame(frame, models) -> None:  # type: ignore[no-untyped-def]
    scored = score_partition(frame.iloc[:0], models, explain_top_k=3)
    assert len(scored) == 0
    assert "reasons_truancy" in scored.columns


def test_reading_months_keeps_only_those_months(store) -> None:  # type: ignore[no-untyped-def]
    lazy = read_feature_months(store, MONTHS[1:], partitions=3)
    assert lazy.npartitions == 3
    assert sorted(lazy.compute()["as_of_month"].unique()) == MONTHS[1:]
    with pytest.raises(ValueError, match="no months"):
        read_feature_months(store, [])


@pytest.mark.slow
def test_a_local_cluster_scores_as_the_partition_does(store, frame, models) -> None:  # type: ignore[no-untyped-def]
    wanted = frame[frame["as_of_month"].isin(MONTHS[:2])].reset_index(drop=True)
    expected = score_partition(wanted, models, explain_top_k=3)
    keys = ["as_of_month", "person_id"]
    with (
        LocalCluster(n_workers=2, processes=False, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        lazy = score_feature_store(
            store, MONTHS[:2], models, client=client, partitions=4, explain_top_k=3
        )
        assert lazy.npartitions == 4
        result = lazy.compute()
    pd.testing.assert_frame_equal(
        result.sort_values(keys).reset_index(drop=True),
        expected.sort_values(keys).reset_index(drop=True),
        check_dtype=False,  # the id columns come back from parquet as its string dtype
    )
    # Without a client the models travel inside the graph instead; same scores.
    with dask.config.set(scheduler="synchronous"):
        local = score_frame(read_feature_months(store, MONTHS[:2]), models).compute()
    np.testing.assert_array_equal(
        local.sort_values(keys)["probability_truancy"],
        expected.sort_values(keys)["probability_truancy"],
    )


def test_engine_scores_equal_the_distributed_scores(scoring_engine, served_world) -> None:  # type: ignore[no-untyped-def]
    models = champion_models(served_world.tracking_uri)
    assert {m.hardship: m.version for m in models} == {
        h: scoring_engine.model_version(h) for h in scoring_engine.ready_hardships()
    }
    month = scoring_engine.latest_month
    with dask.config.set(scheduler="synchronous"):
        scored = score_feature_store(
            served_world.features_dir / "features.parquet", [month], models, partitions=3
        ).compute()
    scored = scored.set_index("person_id")
    for hardship in scoring_engine.ready_hardships():
        for municipality in scoring_engine.municipalities():
            population = scoring_engine.population(month, municipality, hardship)
            ours = scored.loc[list(population.child_ids), probability_column(hardship)]
            np.testing.assert_array_equal(ours.to_numpy(), population.probabilities)
    assert len(scored) == sum(
        len(scoring_engine.population(month, m, "abuse")) for m in scoring_engine.municipalities()
    )
