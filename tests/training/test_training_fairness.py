"""The fairness table: one row per attribute and group, ratios to the best group."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.fairness import FAIRNESS_COLUMNS, fairness_table, group_labels


def test_table_shape_and_ratios_by_hand() -> None:
    # Group F: 2 positives, 1 flagged (recall .5); 2 negatives, 1 flagged (FPR .5).
    # Group M: 2 positives, 2 flagged (recall 1); 2 negatives, 0 flagged (FPR 0).
    y = np.array([1, 1, 0, 0, 1, 1, 0, 0])
    flagged = np.array([1, 0, 1, 0, 1, 1, 0, 0])
    sex = np.array(["F"] * 4 + ["M"] * 4)
    foreign = np.array([0.0, 0.0, 1.0, np.nan, 0.0, 0.0, 0.0, 1.0])
    table = fairness_table(y, flagged, {"sex": sex, "foreign": foreign})
    assert list(table.columns) == list(FAIRNESS_COLUMNS)
    assert set(zip(table["attribute"], table["group"], strict=True)) == {
        ("sex", "F"),
        ("sex", "M"),
        ("foreign", "no"),
        ("foreign", "yes"),
        ("foreign", "unknown"),
    }
    f = table[(table["attribute"] == "sex") & (table["group"] == "F")].iloc[0]
    m = table[(table["attribute"] == "sex") & (table["group"] == "M")].iloc[0]
    assert (f["n"], f["positives"]) == (4, 2)
    assert f["recall"] == pytest.approx(0.5) and m["recall"] == pytest.approx(1.0)
    assert f["recall_ratio"] == pytest.approx(0.5) and m["recall_ratio"] == pytest.approx(1.0)
    assert f["false_positive_rate"] == pytest.approx(0.5) and m["false_positive_rate"] == 0.0
    # M has the lowest FPR (0): it is the best group; F's ratio is 0 / 0.5.
    assert m["false_positive_rate_ratio"] == 1.0 and f["false_positive_rate_ratio"] == 0.0
    assert f["selection_rate"] == pytest.approx(0.5) and m["selection_rate"] == pytest.approx(0.5)
    assert f["selection_rate_ratio"] == pytest.approx(1.0)


def test_group_labels_read_flags_and_missing() -> None:
    labels = group_labels(pd.Series([1.0, 0.0, np.nan]))
    assert labels.tolist() == ["yes", "no", "unknown"]
    assert group_labels(np.array(["131016", "141003"])).tolist() == ["131016", "141003"]


def test_pipeline_fairness_covers_every_configured_attribute(prepared, config) -> None:
    from models.hardships import load_hardship_registry
    from training.train import plan_hardship, train_hardship

    cheap = config.model_copy(update={"audit": config.audit.model_copy(update={"ablate": False})})
    plan = plan_hardship(prepared, load_hardship_registry().get("poverty"), cheap)
    result = train_hardship(prepared, plan, cheap)
    table = result.fairness
    assert set(table["attribute"]) == {"sex", "foreign", "single_parent", "municipality"}
    assert set(table.loc[table["attribute"] == "municipality", "group"]) == set(
        prepared.municipalities
    )
    for _, group in table.groupby("attribute"):
        assert group["selection_rate_ratio"].max() == pytest.approx(1.0)
        assert group["n"].sum() == result.metrics.n
