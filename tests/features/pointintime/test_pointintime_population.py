"""Features of the tiny synthetic population: the right rows, the right shape, plausible values."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.catalogue import load_feature_catalogue
from features.pointintime import KEY_COLUMNS, build_features
from features.timeline.records import LinkedRecords

MONTHS = [str(p) for p in pd.period_range("2022-04", "2026-03", freq="M")]


@pytest.fixture(scope="module")
def frame(tiny: LinkedRecords) -> pd.DataFrame:
    return build_features(tiny, MONTHS)


def test_one_row_per_child_and_month_with_catalogue_columns(frame: pd.DataFrame) -> None:
    assert not frame.duplicated(list(KEY_COLUMNS)).any()
    assert list(frame.columns) == [*KEY_COLUMNS, *load_feature_catalogue().names]
    numeric = frame.drop(columns=[*KEY_COLUMNS, "municipality"])
    assert (numeric.dtypes == np.float32).all()
    assert frame["age_months"].between(0, 215).all()


def test_the_rows_are_the_children_living_there(frame: pd.DataFrame, tiny_root: Path) -> None:
    truth = pd.read_parquet(tiny_root / "ground_truth" / "true_risk.parquet")
    truth = truth[truth["as_of_month"].isin(MONTHS)]
    # The ground truth scores as-of months whose six-month outcome window it has seen.
    frame = frame[frame["as_of_month"] <= truth["as_of_month"].max()]
    ours = set(zip(frame["person_id"], frame["as_of_month"], strict=True))
    theirs = set(zip(truth["person_id"], truth["as_of_month"], strict=True))
    # Not identical: the registry learns of births and moves days after they happen.
    assert len(ours & theirs) / len(ours | theirs) > 0.97


def test_missing_sources_follow_the_manifest(frame: pd.DataFrame) -> None:
    by_town = frame.groupby("municipality")
    assert by_town["missing_health_check"].mean().to_dict() == {
        "990001": 0.0,
        "990002": 1.0,
        "990003": 0.0,
        "990004": 1.0,
    }
    assert by_town["missing_epds"].mean()["990003"] == 1.0
    assert by_town["missing_nurse_visits"].mean()["990004"] == 1.0
    held = frame["missing_health_check"] == 0
    pupils = frame["absence_days_12m"].notna()
    assert frame.loc[~held, "weight_for_age_z"].isna().all()
    assert frame.loc[held & pupils, "weight_for_age_z"].notna().mean() > 0.6
    assert frame.loc[frame["missing_nurse_visits"] == 1, "nurse_visits_3m"].isna().all()


def test_values_are_plausible(frame: pd.DataFrame) -> None:
    pupils = frame[frame["school_stage"].isin([1, 2])]
    assert pupils["absence_days_12m"].notna().mean() > 0.9
    assert frame.loc[frame["school_stage"] == 0, "absence_days_12m"].isna().mean() > 0.95
    assert 0.05 < frame["single_parent"].mean() < 0.25
    assert 0.02 < frame["school_aid_current"].mean() < 0.25
    assert frame["attendance_report_lag_months"].dropna().isin([2, 3, 4]).all()
    late = pupils["absence_nonillness_days_12m"] >= 30
    assert late.mean() < 0.1
