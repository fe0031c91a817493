"""The scoring engine on the served world, checked against the bundles scored the plain way.

The reference is `ModelBundle.score` on rows encoded from the parquet file with pandas: the
path training uses, independent of the engine's numpy lookup.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models.hardships import load_hardship_registry, supported_column
from service.scoring.champions import Champions
from service.scoring.engine import NotReadyError, ScoringEngine
from service.scoring.payload import PayloadError

HARDSHIPS = load_hardship_registry().ids


def _sample(frame: pd.DataFrame, month: str, n: int = 12) -> pd.DataFrame:
    rows = frame[frame["as_of_month"] == month]
    return rows.sample(n=min(n, len(rows)), random_state=3)


def test_every_hardship_is_ready_with_a_registered_version(scoring_engine) -> None:  # type: ignore[no-untyped-def]
    status = scoring_engine.status()
    assert set(status) == set(HARDSHIPS)
    for item in status.values():
        assert item.ready and item.version is not None and item.reason is None
    assert scoring_engine.ready


def test_months_are_the_feature_store_months(scoring_engine, feature_frame) -> None:  # type: ignore[no-untyped-def]
    months = sorted(feature_frame["as_of_month"].unique())
    assert scoring_engine.months() == months
    assert scoring_engine.latest_month == months[-1]


def test_feature_row_is_the_stored_row(scoring_engine, feature_frame, served_world) -> None:  # type: ignore[no-untyped-def]
    labels = pd.read_parquet(served_world.features_dir / "labels.parquet")
    store_columns = [
        c for c in feature_frame.columns if c not in ("person_id", "as_of_month", "municipality")
    ]
    for _, expected in _sample(feature_frame, "2025-06").iterrows():
        row = scoring_engine.feature_row(expected["person_id"], "2025-06")
        assert row is not None
        assert row.municipality == expected["municipality"]
        np.testing.assert_array_equal(row.values, expected[store_columns].to_numpy(np.float64))
        label = labels[
            (labels["person_id"] == expected["person_id"]) & (labels["as_of_month"] == "2025-06")
        ].iloc[0]
        assert row.already_supported == {h: bool(label[supported_column(h)]) for h in HARDSHIPS}


def test_feature_row_defaults_to_the_latest_month_and_misses_cleanly(
    scoring_engine, feature_frame
) -> None:  # type: ignore[no-untyped-def]
    latest = feature_frame[feature_frame["as_of_month"] == scoring_engine.latest_month]
    child = latest["person_id"].iloc[0]
    row = scoring_engine.feature_row(child)
    assert row is not None and row.month == scoring_engine.latest_month
    assert scoring_engine.feature_row("no-such-child") is None
    assert scoring_engine.feature_row(child, "1999-01") is None


@pytest.mark.parametrize("explain", [False, True])
def test_scores_match_the_bundles_scored_from_pandas(
    scoring_engine, feature_frame, explain
) -> None:  # type: ignore[no-untyped-def]
    sample = _sample(feature_frame, "2025-09")
    rows = [scoring_engine.feature_row(c, "2025-09") for c in sample["person_id"]]
    scored = scoring_engine.score(rows, explain=explain, top_k=3)
    for hardship in HARDSHIPS:
        bundle = scoring_engine.champions.snapshot.get(hardship).bundle
        expected = bundle.score(bundle.encode(sample))
        got = np.array([item.scores[hardship].probability for item in scored])
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)
        for item in scored:
            score = item.scores[hardship]
            assert score.model_version == scoring_engine.model_version(hardship)
            assert (score.explanation is not None) == explain


def test_percentile_is_the_share_of_the_municipality_scoring_lower(
    scoring_engine, feature_frame
) -> None:  # type: ignore[no-untyped-def]
    month = "2025-09"
    child = _sample(feature_frame, month, 1).iloc[0]
    municipality = child["municipality"]
    peers = feature_frame[
        (feature_frame["as_of_month"] == month) & (feature_frame["municipality"] == municipality)
    ]
    row = scoring_engine.feature_row(child["person_id"], month)
    (scored,) = scoring_engine.score([row])
    for hardship in HARDSHIPS:
        bundle = scoring_engine.champions.snapshot.get(hardship).bundle
        everyone = bundle.score(bundle.encode(peers))
        mine = scored.scores[hardship].probability
        expected = 100.0 * np.sum(everyone < mine - 1e-12) / len(everyone)
        assert scored.scores[hardship].percentile == pytest.approx(expected)


def test_population_holds_every_child_of_the_municipality_that_month(
    scoring_engine, feature_frame, served_world
) -> None:  # type: ignore[no-untyped-def]
    labels = pd.read_parquet(served_world.features_dir / "labels.parquet")
    month = scoring_engine.latest_month
    municipality = scoring_engine.municipalities()[0]
    peers = feature_frame[
        (feature_frame["as_of_month"] == month) & (feature_frame["municipality"] == municipality)
    ]
    population = scoring_engine.population(month, municipality, "poverty")
    assert sorted(population.child_ids.tolist()) == sorted(peers["person_id"])
    bundle = scoring_engine.champions.snapshot.get("poverty").bundle
    expected = pd.Series(bundle.score(bundle.encode(peers)), index=peers["person_id"].to_numpy())
    np.testing.assert_allclose(
        population.probabilities, expected.loc[population.child_ids.astype(str)].to_numpy()
    )
    supported = labels[labels["as_of_month"] == month].set_index("person_id")[
        supported_column("poverty")
    ]
    np.testing.assert_array_equal(
        population.already_supported, supported.loc[population.child_ids.astype(str)].to_numpy()
    )
    assert population is scoring_engine.population(month, municipality, "poverty")  # cached


def test_a_subset_of_hardships_and_an_unknown_one(scoring_engine) -> None:  # type: ignore[no-untyped-def]
    row = scoring_engine.feature_row(
        scoring_engine.population(
            scoring_engine.latest_month, scoring_engine.municipalities()[0], "abuse"
        ).child_ids[0]
    )
    (scored,) = scoring_engine.score([row], ["truancy", "abuse"])
    assert list(scored.scores) == ["truancy", "abuse"]
    with pytest.raises(NotReadyError, match="bullying"):
        scoring_engine.score([row], ["bullying"])


def test_a_payload_of_a_stored_row_scores_like_the_stored_child(
    scoring_engine, feature_frame
) -> None:  # type: ignore[no-untyped-def]
    child = _sample(feature_frame, scoring_engine.latest_month, 1).iloc[0]
    stored = scoring_engine.feature_row(child["person_id"])
    schema = scoring_engine.payload_schema()
    stored_values = stored.values  # noqa: PD011 (a numpy row, not a DataFrame)
    features = {
        name: (None if np.isnan(value) else value)
        for name, value in zip(schema.columns, stored_values.tolist(), strict=True)
    }
    payload = scoring_engine.payload_row(stored.municipality, features)
    assert payload.missing == ()
    (a, b) = scoring_engine.score([stored, payload], explain=True)
    for hardship in HARDSHIPS:
        assert b.scores[hardship].probability == pytest.approx(a.scores[hardship].probability)
        assert b.scores[hardship].percentile == a.scores[hardship].percentile
        assert b.scores[hardship].already_supported is None


def test_a_payload_without_fields_is_scored_as_missing(scoring_engine) -> None:  # type: ignore[no-untyped-def]
    municipality = scoring_engine.municipalities()[0]
    row = scoring_engine.payload_row(municipality, {"age_months": 100})
    assert "age_months" not in row.missing and "single_parent" in row.missing
    assert np.isnan(row.values).sum() == len(row.values) - 1
    (scored,) = scoring_engine.score([row])
    assert all(0.0 <= s.probability <= 1.0 for s in scored.scores.values())
    with pytest.raises(PayloadError) as error:
        scoring_engine.payload_row(municipality, {"age_months": -1})
    assert error.value.field == "features.age_months"


def test_without_a_policy_the_band_is_the_training_cut(scoring_engine) -> None:  # type: ignore[no-untyped-def]
    population = scoring_engine.population(
        scoring_engine.latest_month, scoring_engine.municipalities()[0], "abuse"
    )
    rows = [scoring_engine.feature_row(c) for c in population.child_ids[:200]]
    cut = scoring_engine.champions.snapshot.get("abuse").bundle.metadata["threshold_at_capacity"]
    for item in scoring_engine.score(rows, ["abuse"]):
        score = item.scores["abuse"]
        assert score.band == ("high" if score.probability >= cut else None)


def test_an_attached_band_resolver_decides_the_band(scoring_engine) -> None:  # type: ignore[no-untyped-def]
    calls = []

    class Resolver:
        def band_for(self, hardship: str, municipality: str, probability: float, month: str) -> str:
            calls.append((hardship, municipality, month))
            return "watch"

    row = scoring_engine.feature_row(
        scoring_engine.population(
            scoring_engine.latest_month, scoring_engine.municipalities()[0], "abuse"
        ).child_ids[0]
    )
    previous = scoring_engine.band_resolver
    scoring_engine.attach_band_resolver(Resolver())
    try:
        (scored,) = scoring_engine.score([row], ["abuse", "poverty"])
    finally:
        scoring_engine.attach_band_resolver(previous)
    assert {s.band for s in scored.scores.values()} == {"watch"}
    assert calls == [(h, row.municipality, row.month) for h in ("abuse", "poverty")]


def test_a_rewritten_feature_store_is_picked_up_on_reload(served_world, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    features_dir = tmp_path / "features"
    shutil.copytree(served_world.features_dir, features_dir)
    champions = Champions(served_world.tracking_uri, HARDSHIPS)
    engine = ScoringEngine(champions, features_dir)
    engine.reload()
    latest = engine.latest_month
    frame = pd.read_parquet(features_dir / "features.parquet")
    frame[frame["as_of_month"] != latest].to_parquet(features_dir / "features.parquet")
    stat = (features_dir / "features.parquet").stat()
    # Same-second rewrites on coarse file systems: make the change visible by mtime for sure.
    os.utime(features_dir / "features.parquet", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    report = engine.reload()
    assert "loaded" in report["features"]
    assert latest not in engine.months() and engine.latest_month < latest
    assert engine.ready
