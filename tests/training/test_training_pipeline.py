"""One hardship end to end without MLflow: metrics, oracle gap, leave one out, card, tuning."""

from __future__ import annotations

import math

import numpy as np
import pytest

from models.hardships import load_hardship_registry


@pytest.fixture(scope="module")
def poverty(prepared, config, true_risk):  # type: ignore[no-untyped-def]
    from training.train import plan_hardship, train_hardship

    full = config.model_copy(
        update={
            "evaluation": config.evaluation.model_copy(update={"leave_one_municipality_out": True})
        }
    )
    plan = plan_hardship(prepared, load_hardship_registry().get("poverty"), full)
    return train_hardship(prepared, plan, full, true_risk=true_risk), full


def test_model_learns_and_stays_modest(poverty) -> None:
    result, config = poverty
    m = result.metrics
    assert m.roc_auc > 0.65
    assert m.pr_auc > 2 * m.positives / m.n  # well above the base rate
    assert 0 < result.best_iteration <= config.lightgbm.max_rounds
    assert result.bundle.booster.num_trees() == result.best_iteration
    assert result.bundle.booster.params.get("num_leaves", 15) <= 31
    # Flags are 2.5 % of each month's scored children.
    months = len(result.periods.test.months)
    assert abs(m.flagged - config.capacity * m.n) <= months


def test_oracle_gap_compares_the_same_rows(poverty) -> None:
    result, _ = poverty
    gap = result.oracle
    assert gap is not None and gap.coverage == 1.0
    assert gap.model.n == gap.oracle.n == result.metrics.n
    assert gap.oracle.roc_auc > 0.7
    assert 0.8 < gap.ratios["roc_auc"] <= 1.05
    assert gap.ratios["roc_auc"] == pytest.approx(gap.model.roc_auc / gap.oracle.roc_auc)
    assert gap.intervals is not None
    low, high = gap.intervals.roc_auc
    assert low <= gap.ratios["roc_auc"] <= high


def test_leave_one_municipality_out_scores_every_town(poverty, prepared) -> None:
    result, _ = poverty
    assert set(result.leave_one_out) == set(prepared.municipalities)
    for metrics in result.leave_one_out.values():
        assert metrics.n > 0 and not math.isnan(metrics.roc_auc)
        assert metrics.roc_auc > 0.55


def test_model_card_has_every_section(poverty, training_frame) -> None:
    from training.model_card import render_model_card

    result, config = poverty
    card = render_model_card(result, config, training_frame)
    for heading in (
        "# Model card: poverty (貧困)",
        "## Data",
        "### Features and their sources",
        "## Test metrics",
        "### Oracle gap",
        "### Leave one municipality out",
        "## Calibration",
        "## Fairness at the operating point",
        "## Over-influence audit",
        "## Known limits",
    ):
        assert heading in card
    assert "世帯の所得段階" in card  # labels come from the feature catalogue
    assert "intervals from 200 bootstrap resamples of the test children" in card


def test_bundle_scores_what_the_pipeline_measured(poverty, prepared) -> None:
    result, _ = poverty
    bundle = result.bundle
    data = prepared.frame.data
    rows = bundle.encode(data.iloc[:50])
    assert np.allclose(bundle.score(rows), bundle.calibrator.apply(bundle.margin(rows)))
    contributions = bundle.contributions(rows)
    assert np.allclose(contributions.sum(axis=1), bundle.margin(rows))
    assert bundle.metadata["hardship"] == "poverty"
    assert bundle.metadata["threshold_at_capacity"] > 0


def test_tuning_runs_within_its_budget(prepared, config) -> None:
    from training.train import plan_hardship, train_hardship

    tuned = config.model_copy(
        update={
            "tuning": config.tuning.model_copy(update={"enabled": True, "n_trials": 3}),
            "audit": config.audit.model_copy(update={"ablate": False}),
        }
    )
    plan = plan_hardship(prepared, load_hardship_registry().get("truancy"), tuned)
    result = train_hardship(prepared, plan, tuned)
    assert result.tuning_trials == 3
    assert result.params["num_leaves"] <= tuned.tuning.max_num_leaves
    assert result.metrics.roc_auc > 0.6


def _outcomes(rows: list[tuple[str, str, str, bool]]):  # type: ignore[no-untyped-def]
    import pandas as pd

    return pd.DataFrame(
        [
            {
                "person_id": person,
                "hardship": "poverty",
                "municipality": "990001",
                "as_of_month": month,
                "run_id": 1,
                "band": band,
                "decision": "monitoring" if confirmed else "no_action",
                "reason": None if confirmed else "data_error",
                "confirmed": confirmed,
                "created_at": None,
            }
            for person, month, band, confirmed in rows
        ]
    )


def test_the_model_card_reports_human_confirmed_precision_by_band(poverty, training_frame) -> None:
    import pandas as pd

    from training.model_card import render_model_card
    from training.reviews import human_confirmed_precision

    result, config = poverty
    people = training_frame.data["person_id"].unique()[:30]
    outcomes = _outcomes([(p, "2025-01", "high", i % 3 != 0) for i, p in enumerate(people)])
    flagged = pd.DataFrame(
        [{"as_of_month": "2025-01", "hardship": "poverty", "band": "high", "flagged": 60}]
    )
    result.human_review = human_confirmed_precision(outcomes, flagged, "poverty", min_reviews=20)
    try:
        card = render_model_card(result, config, training_frame)
    finally:
        result.human_review = None
    assert "## Human-confirmed precision" in card
    high = human_confirmed_precision(outcomes, flagged, "poverty").iloc[0]
    assert high["band"] == "high"
    assert (high["reviewed"], high["confirmed"], high["flagged"]) == (30, 20, 60)
    assert high["precision"] == pytest.approx(20 / 30)


def test_confirmed_reviews_become_labels(training_frame) -> None:
    import pandas as pd

    from training.reviews import ReviewOutcomes
    from training.train import _with_review_labels

    data = training_frame.data
    negatives = data[data["label_poverty"] == 0].head(5)
    rows = [
        (p, m, "high", True)
        for p, m in zip(negatives["person_id"], negatives["as_of_month"], strict=True)
    ]
    reviews = ReviewOutcomes(_outcomes(rows), _outcomes([]).iloc[0:0])
    labelled = _with_review_labels(training_frame, reviews, ["poverty"]).data
    changed = labelled.loc[negatives.index, "label_poverty"]
    assert (changed == 1.0).all()
    others = labelled.drop(index=negatives.index)["label_poverty"]
    pd.testing.assert_series_equal(
        others, data.drop(index=negatives.index)["label_poverty"].astype(others.dtype)
    )


def test_the_model_card_names_towns_without_labels(poverty, training_frame) -> None:  # type: ignore[no-untyped-def]
    from training.frame import TrainingFrame
    from training.model_card import render_model_card

    result, config = poverty
    assert "- every municipality has labelled children" in render_model_card(
        result, config, training_frame
    )
    data = training_frame.data.copy()
    town = sorted(data["municipality"].unique())[-1]
    # As the labels leave a town without the label's records: missing, not 0.
    data.loc[data["municipality"] == town, "label_poverty"] = np.nan
    blind = TrainingFrame(data, training_frame.feature_names)
    card = render_model_card(result, config, blind)
    assert f"- municipalities without labels: {town}." in card
