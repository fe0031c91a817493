"""The model bundle: encoding, calibrated scores, exact contributions, files on disk."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from models.bundle import BundleError, Calibrator, ModelBundle, category_maps_of, encode_features
from models.explain import influence_shares_by, top_contributions

NAMES = ("absence_days_3m", "household_income_bracket", "noise", "school_type")


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 4000
    data = pd.DataFrame(
        {
            "absence_days_3m": rng.poisson(2, n).astype(float),
            "household_income_bracket": rng.integers(0, 7, n).astype(float),
            "noise": rng.normal(size=n),
            "school_type": rng.choice(["public", "private", "none"], n),
        }
    )
    data.loc[rng.random(n) < 0.1, "absence_days_3m"] = np.nan
    data.loc[rng.random(n) < 0.05, "school_type"] = None
    logit = (
        -3
        + 0.4 * data["absence_days_3m"].fillna(0)
        - 0.3 * data["household_income_bracket"]
        + 0.8 * (data["school_type"] == "private")
    )
    data["y"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return data


@pytest.fixture(scope="module")
def bundle(frame: pd.DataFrame) -> ModelBundle:
    maps = category_maps_of(frame, NAMES)
    x = encode_features(frame, NAMES, maps)
    booster = lgb.train(
        {"objective": "binary", "num_leaves": 15, "verbosity": -1, "num_threads": 1},
        lgb.Dataset(x, frame["y"], feature_name=list(NAMES), categorical_feature=[3]),
        num_boost_round=40,
    )
    return ModelBundle(
        booster, NAMES, maps, Calibrator("platt", {"a": (0.9,), "b": (-0.2,)}), {"hardship": "t"}
    )


def test_categories_become_codes_and_unknown_ones_missing(frame: pd.DataFrame) -> None:
    maps = category_maps_of(frame, NAMES)
    assert maps == {"school_type": ("none", "private", "public")}
    rows = pd.DataFrame(
        {
            "absence_days_3m": [1.0, np.nan],
            "household_income_bracket": [2.0, 3.0],
            "noise": [0.0, 0.0],
            "school_type": ["public", "boarding"],
            "unused": ["x", "y"],
        }
    )
    x = encode_features(rows, NAMES, maps)
    assert x.dtype == np.float64
    assert x[0, 3] == 2.0 and np.isnan(x[1, 3]) and np.isnan(x[1, 0])
    with pytest.raises(BundleError, match="missing"):
        encode_features(rows.drop(columns="noise"), NAMES, maps)


def test_scores_are_the_calibrated_margin(bundle: ModelBundle, frame: pd.DataFrame) -> None:
    x = bundle.encode(frame.head(100))
    margin = bundle.margin(x)
    assert np.allclose(bundle.score(x), 1 / (1 + np.exp(-(0.9 * margin - 0.2))))
    # A DataFrame with the feature names scores the same as its encoded rows.
    assert np.allclose(bundle.score(frame.head(100)), bundle.score(x))
    with pytest.raises(BundleError, match="4 features"):
        bundle.score(np.zeros((2, 3)))


def test_contributions_sum_to_the_margin(bundle: ModelBundle, frame: pd.DataFrame) -> None:
    x = bundle.encode(frame.head(200))
    contributions = bundle.contributions(x)
    assert contributions.shape == (200, len(NAMES) + 1)
    assert np.allclose(contributions.sum(axis=1), bundle.margin(x))


def test_contributions_match_the_shap_package(bundle: ModelBundle, frame: pd.DataFrame) -> None:
    import shap

    x = bundle.encode(frame.head(8))
    explainer = shap.TreeExplainer(bundle.booster)
    expected = np.asarray(explainer.shap_values(x))
    ours = bundle.contributions(x)
    assert np.allclose(ours[:, :-1], expected, atol=1e-6)
    assert np.allclose(ours[:, -1], float(np.ravel(explainer.expected_value)[0]), atol=1e-6)


def test_round_trip_on_disk(bundle: ModelBundle, frame: pd.DataFrame, tmp_path) -> None:
    folder = bundle.save(tmp_path / "bundle")
    loaded = ModelBundle.load(folder)
    x = bundle.encode(frame.head(50))
    assert loaded.feature_names == bundle.feature_names
    assert loaded.category_maps == bundle.category_maps
    assert loaded.metadata == {"hardship": "t"}
    assert np.array_equal(loaded.score(x), bundle.score(x))
    assert np.array_equal(loaded.contributions(x), bundle.contributions(x))
    with pytest.raises(BundleError, match="not a model bundle"):
        ModelBundle.load(tmp_path / "nowhere")


def test_isotonic_calibrator_interpolates_and_round_trips() -> None:
    calibrator = Calibrator("isotonic", {"x": (-2.0, 0.0, 2.0), "y": (0.0, 0.1, 0.5)})
    assert calibrator.apply(np.array([-5.0, -1.0, 1.0, 9.0])).tolist() == pytest.approx(
        [0.0, 0.05, 0.3, 0.5]
    )
    assert Calibrator.from_dict(calibrator.to_dict()) == calibrator
    with pytest.raises(BundleError):
        Calibrator("isotonic", {"x": (1.0,), "y": ()})


def test_explanation_helpers(bundle: ModelBundle, frame: pd.DataFrame) -> None:
    x = bundle.encode(frame.head(300))
    contributions = bundle.contributions(x)
    top = top_contributions(contributions[:2], NAMES, k=2)
    assert len(top) == 2 and len(top[0]) == 2
    assert abs(top[0][0][1]) >= abs(top[0][1][1])
    by = influence_shares_by(contributions, NAMES, np.array(["A", "B"] * 150))
    assert list(by.index) == ["A", "B"]
    assert by.sum(axis=1).to_numpy() == pytest.approx([1.0, 1.0])
