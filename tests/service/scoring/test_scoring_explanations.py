"""Explanations: LightGBM's pred_contrib against the shap package, and how factors are worded."""

from __future__ import annotations

import numpy as np
import pytest

from features.catalogue.feature_catalogue import load_feature_catalogue
from service.scoring.explanations import MISSING_TEXT, ModelExplainer


def _rows(scoring_engine, hardship: str, n: int = 8) -> np.ndarray:  # type: ignore[no-untyped-def]
    population = scoring_engine.population(
        scoring_engine.latest_month, scoring_engine.municipalities()[0], hardship
    )
    rows = [scoring_engine.feature_row(c) for c in population.child_ids[:n]]
    model = scoring_engine._serving.models[hardship]
    return np.vstack([r.values for r in rows])[:, model.positions]


@pytest.mark.parametrize("hardship", ["abuse", "truancy"])
def test_pred_contrib_equals_shap_tree_explainer(scoring_engine, hardship: str) -> None:  # type: ignore[no-untyped-def]
    import shap

    bundle = scoring_engine.champions.snapshot.get(hardship).bundle
    x = _rows(scoring_engine, hardship)
    ours = bundle.contributions(x)
    explainer = shap.TreeExplainer(bundle.booster)
    theirs = np.asarray(explainer.shap_values(x))
    np.testing.assert_allclose(ours[:, :-1], theirs, atol=1e-6)
    np.testing.assert_allclose(
        ours[:, -1], np.asarray(explainer.expected_value).ravel()[0], atol=1e-6
    )
    np.testing.assert_allclose(ours.sum(axis=1), bundle.margin(x), atol=1e-9)


def test_explanation_adds_up_and_orders_factors(scoring_engine) -> None:  # type: ignore[no-untyped-def]
    x = _rows(scoring_engine, "poverty", 20)
    model = scoring_engine._serving.models["poverty"]
    contributions = model.loaded.bundle.contributions(x)
    for i in range(len(x)):
        explanation = model.explainer.explain(contributions[i], x[i], top_k=4)
        assert explanation["log_odds"] == pytest.approx(model.loaded.bundle.margin(x[i : i + 1])[0])
        assert explanation["base_log_odds"] == pytest.approx(contributions[i, -1])
        assert explanation["base_probability"] == pytest.approx(
            model.loaded.bundle.calibrator.apply(np.array([contributions[i, -1]]))[0]
        )
        factors = explanation["factors"]
        assert len(factors) <= 4
        sizes = [abs(f["log_odds"]) for f in factors]
        assert sizes == sorted(sizes, reverse=True)
        for factor in factors:
            assert factor["direction"] == ("raises" if factor["log_odds"] > 0 else "lowers")
            assert (factor["share_of_raise"] is None) == (factor["log_odds"] < 0)
            j = model.loaded.bundle.feature_names.index(factor["feature"])
            assert factor["log_odds"] == contributions[i, j]


def _explainer(scoring_engine, share: float = 0.5) -> ModelExplainer:  # type: ignore[no-untyped-def]
    bundle = scoring_engine.champions.snapshot.get("truancy").bundle
    return ModelExplainer.build(bundle, load_feature_catalogue(), over_influence_share=share)


def _contributions(n: int, values: dict[int, float], bias: float = -3.0) -> np.ndarray:
    row = np.zeros(n + 1)
    for j, value in values.items():
        row[j] = value
    row[-1] = bias
    return row


def test_one_feature_carrying_most_of_the_raise_is_flagged(scoring_engine) -> None:  # type: ignore[no-untyped-def]
    explainer = _explainer(scoring_engine)
    n = len(explainer.feature_names)
    values = np.zeros(n)
    flagged = explainer.explain(_contributions(n, {0: 0.9, 1: 0.3, 2: -1.0}), values, 3)
    over = flagged["over_influence"]
    assert over is not None and over["feature"] == explainer.feature_names[0]
    assert over["share"] == pytest.approx(0.75)
    assert f"（{explainer.texts[0].label_ja}）" in over["message_ja"]
    assert over["message_en"].startswith("This score rests mostly on one item")
    balanced = explainer.explain(_contributions(n, {0: 0.4, 1: 0.4, 2: 0.2}), values, 3)
    assert balanced["over_influence"] is None
    # The share counts only what raised the score: lowering factors neither dilute nor add.
    assert balanced["factors"][0]["share_of_raise"] == pytest.approx(0.4)
    stricter = _explainer(scoring_engine, share=0.3)
    assert stricter.explain(_contributions(n, {0: 0.4, 1: 0.4, 2: 0.2}), values, 3)[
        "over_influence"
    ]


def test_nothing_raised_means_no_flag(scoring_engine) -> None:  # type: ignore[no-untyped-def]
    explainer = _explainer(scoring_engine)
    n = len(explainer.feature_names)
    explanation = explainer.explain(_contributions(n, {0: -0.5}), np.zeros(n), 5)
    assert explanation["over_influence"] is None
    assert [f["feature"] for f in explanation["factors"]] == [explainer.feature_names[0]]


def test_values_are_worded_for_staff(scoring_engine) -> None:  # type: ignore[no-untyped-def]
    explainer = _explainer(scoring_engine)
    names = explainer.feature_names
    flag = names.index("single_parent")
    count = names.index("siblings")
    values = np.zeros(len(names))
    values[flag] = 1.0
    values[count] = np.nan
    explanation = explainer.explain(_contributions(len(names), {flag: 0.5, count: 0.2}), values, 2)
    by_name = {f["feature"]: f for f in explanation["factors"]}
    assert by_name["single_parent"]["value_text"] == "はい (yes)"
    assert by_name["single_parent"]["label_ja"] == "ひとり親世帯"
    assert by_name["siblings"]["value"] is None and by_name["siblings"]["missing"]
    assert by_name["siblings"]["value_text"] == MISSING_TEXT


def test_global_flags_come_from_training_metadata(scoring_engine) -> None:  # type: ignore[no-untyped-def]
    for hardship, flags in scoring_engine.model_flags().items():
        metadata = scoring_engine.champions.snapshot.get(hardship).bundle.metadata
        assert [f["feature"] for f in flags["flagged_features"]] == list(
            metadata.get("flagged_features", [])
        )
        shares = [f["share"] for f in flags["top_influence"]]
        assert shares == sorted(shares, reverse=True)
        assert flags["model_version"] == scoring_engine.model_version(hardship)
