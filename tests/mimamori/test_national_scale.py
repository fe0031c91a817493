"""The Dask paths chained on one local cluster: features -> training -> batch scoring.

The served world (tests/conftest.py) ran every stage in process; here the same linked records go
through `build_features_dask` (written to parquet by the workers), the Dask LightGBM fitter and
the Dask batch scorer, and each stage is held to its in-process counterpart: the features equal
the stored ones row for row, the champions score the Dask-built store exactly as the serving
engine scores the pandas-built one, and the Dask-trained model, scored by the Dask batch,
reproduces its own training report's test AUC. docs/scale.md builds on this test.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

pytestmark = pytest.mark.slow

HARDSHIP = "poverty"
KEYS = ["as_of_month", "person_id"]


def _records_and_people(database_url: str):  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from features.linkage.persisted import load_identity_map
    from features.store.database import make_engine
    from features.store.models import HouseholdLink, Person
    from features.timeline.adapters import linked_records_from_store

    engine = make_engine(database_url)
    try:
        records = linked_records_from_store(engine, load_identity_map(engine))
        with engine.connect() as connection:
            households = pd.DataFrame(
                connection.execute(select(HouseholdLink.person_id, HouseholdLink.household_id)),
                columns=["person_id", "household_id"],
            )
            attributes = pd.DataFrame(
                connection.execute(select(Person.person_id, Person.sex)),
                columns=["person_id", "sex"],
            )
    finally:
        engine.dispose()
    return records, households, attributes


def _cheap_config():  # type: ignore[no-untyped-def]
    from training.config import load_training_config

    base = load_training_config()
    return base.model_copy(
        update={
            "evaluation": base.evaluation.model_copy(update={"leave_one_municipality_out": False}),
            "audit": base.audit.model_copy(update={"ablate": False}),
            "lightgbm": base.lightgbm.model_copy(update={"max_rounds": 80}),
        }
    )


def test_features_training_and_scoring_chain_on_a_local_cluster(
    served_world,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    import dask.dataframe as dd
    from distributed import Client, LocalCluster

    from features.pointintime.distributed import build_features_dask
    from models.hardships import load_hardship_registry
    from service.scoring.champions import Champions
    from service.scoring.distributed import (
        champion_models,
        probability_column,
        reasons_column,
        score_feature_store,
        scoring_models,
    )
    from service.scoring.engine import ScoringEngine
    from training.dask_train import train_all_on_dask
    from training.frame import training_frame_from
    from training.train import plan_hardship, prepare

    stored = pd.read_parquet(served_world.features_dir / "features.parquet")
    labels = pd.read_parquet(served_world.features_dir / "labels.parquet")
    months = sorted(stored["as_of_month"].unique())
    records, households, attributes = _records_and_people(served_world.database_url)
    store = tmp_path / "features"
    seconds: dict[str, float] = {}

    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        # 1. Features, partitioned by connected groups of people, written by the workers.
        began = time.perf_counter()
        build_features_dask(records, months, partitions=4).to_parquet(store, write_index=False)
        built = dd.read_parquet(store).compute()
        # Dask reads the id columns back as pandas' string dtype with NA rather than NaN as its
        # missing value; no id is missing, so only the sentinel differs.
        built = built.astype(
            {c: stored[c].dtype for c in ("person_id", "as_of_month", "municipality")}
        )
        seconds["features"] = time.perf_counter() - began
        pd.testing.assert_frame_equal(
            built.sort_values(KEYS).reset_index(drop=True),
            stored.sort_values(KEYS).reset_index(drop=True),
        )

        # 2. Training with every booster fitted on the cluster.
        began = time.perf_counter()
        frame = training_frame_from(built, labels, households=households, attributes=attributes)
        config = _cheap_config()
        report = train_all_on_dask(
            frame,
            config,
            f"sqlite:///{tmp_path / 'mlflow.db'}",
            hardships=[HARDSHIP],
            client=client,
        )
        seconds["training"] = time.perf_counter() - began
        result = report.results[HARDSHIP]
        assert result.metrics.roc_auc > 0.5, report.rows()

        # 3a. The champions score the Dask-built store as the engine scores the pandas-built one.
        began = time.perf_counter()
        latest = months[-2:]
        champions = champion_models(served_world.tracking_uri)
        scored = score_feature_store(
            store, latest, champions, client=client, explain_top_k=3
        ).compute()
        seconds["scoring (champions, 2 months, explained)"] = time.perf_counter() - began

        # 3b. The Dask-trained model over its own test period.
        test = result.periods.test
        test_months = [m for m in months if test.first <= m <= test.last]
        ours = score_feature_store(
            store, test_months, scoring_models({HARDSHIP: result.bundle}), client=client
        ).compute()

    engine = ScoringEngine(
        Champions(served_world.tracking_uri, load_hardship_registry().ids),
        served_world.features_dir,
    )
    engine.reload()
    assert engine.ready, engine.status()
    assert len(scored) == int(stored["as_of_month"].isin(latest).sum())
    by_key = scored.set_index(KEYS)
    for model in champions:
        for month in latest:
            for municipality in engine.municipalities():
                population = engine.population(month, municipality, model.hardship)
                index = pd.MultiIndex.from_arrays(
                    [np.full(len(population), month), population.child_ids]
                )
                np.testing.assert_array_equal(
                    by_key.loc[index, probability_column(model.hardship)].to_numpy(),
                    population.probabilities,
                )
    # The reasons are the engine's own top factors for the same child.
    sample = scored[scored["as_of_month"] == latest[-1]].head(5)
    rows = [engine.feature_row(c, latest[-1]) for c in sample["person_id"]]
    explained = engine.score([r for r in rows if r is not None], explain=True, top_k=3)
    for child, reasons in zip(explained, sample[reasons_column("abuse")], strict=True):
        expected = child.scores["abuse"].explanation or {}
        assert [f["feature"] for f in expected["factors"]] == [r[0] for r in json.loads(reasons)]

    # The Dask batch, given the Dask-trained bundle, reproduces training's own test scores.
    hardship = load_hardship_registry().get(HARDSHIP)
    plan = plan_hardship(prepare(frame, config, [hardship]), hardship, config)
    keys = frame.data.iloc[plan.split.test][KEYS]
    p = ours.set_index(KEYS).loc[pd.MultiIndex.from_frame(keys), probability_column(HARDSHIP)]
    np.testing.assert_array_equal(p.to_numpy(), result.p_test)
    auc = float(roc_auc_score(plan.y[plan.split.test], p.to_numpy()))
    assert auc == pytest.approx(result.metrics.roc_auc, abs=1e-12)
    print(
        f"\nDask chain on {built['person_id'].nunique():,} children x {len(months)} months: "
        + ", ".join(f"{k} {v:.1f} s" for k, v in seconds.items())
        + f"; {HARDSHIP} test AUC {auc:.3f} ({len(keys):,} rows)"
    )
