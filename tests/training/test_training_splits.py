"""Splits keep label windows apart in time and households on one side."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.config import TrainingConfig, load_training_config
from training.splits import (
    Period,
    SplitError,
    holdout_components,
    household_components,
    leave_one_municipality_out,
    plan_periods,
    split_rows,
)

MONTHS = tuple(str(p) for p in pd.period_range("2021-04", "2026-03", freq="M"))


def _config(**splits: object) -> TrainingConfig:
    base = load_training_config()
    return base.model_copy(update={"splits": base.splits.model_copy(update=splits)})


def _months_between(a: str, b: str) -> int:
    return int((pd.Period(b, freq="M") - pd.Period(a, freq="M")).n)


@pytest.mark.parametrize("gap", [5, 6, 9])
@pytest.mark.parametrize("horizon", [3, 6])
def test_no_label_window_reaches_the_next_period(gap: int, horizon: int) -> None:
    if gap < horizon - 1:
        pytest.skip("configuration refused, tested separately")
    base = load_training_config()
    config = base.model_copy(
        update={
            "label_horizon_months": horizon,
            "splits": base.splits.model_copy(update={"gap_months": gap}),
        }
    )
    periods = plan_periods(MONTHS, observed_until="2025-10", config=config)
    assert not periods.label_windows_overlap()
    for before, after in ((periods.train, periods.validation), (periods.validation, periods.test)):
        # The last window of `before` covers [last, last + horizon): it must end before `after`.
        assert _months_between(before.last, after.first) >= horizon
    assert periods.test.last == "2025-10"
    assert len(periods.test.months) == config.splits.test_months


def test_a_gap_shorter_than_the_horizon_is_refused() -> None:
    from training.config import ConfigError, parse_training_config

    with pytest.raises(ConfigError, match="label horizon"):
        parse_training_config("label_horizon_months: 6\nsplits: {gap_months: 2}\n")


def test_too_few_months_is_a_clear_error() -> None:
    with pytest.raises(SplitError, match="not enough months"):
        plan_periods(MONTHS[:30], observed_until=None, config=_config())


def test_siblings_and_households_linked_by_a_move_stay_together() -> None:
    # P1 and P2 are siblings in H1; P2 later lives in H2 with P3; P4 is alone in H3.
    people = np.array(["P1", "P2", "P2", "P3", "P4"])
    homes = np.array(["H1", "H1", "H2", "H2", "H3"])
    groups = household_components(people, homes)
    assert groups[0] == groups[1] == groups[2] == groups[3]
    assert groups[4] != groups[0]


def test_held_out_groups_are_stable_when_data_grows() -> None:
    people = np.array([f"P{i}" for i in range(400)])
    homes = np.array([f"H{i // 2}" for i in range(400)])
    first = holdout_components(people, household_components(people, homes), 0.3, seed=1)
    more_people = np.concatenate([people, ["P999"]])
    more_homes = np.concatenate([homes, ["H999"]])
    second = holdout_components(
        more_people, household_components(more_people, more_homes), 0.3, seed=1
    )
    assert (first == second[:400]).all()
    assert 0.2 < first.mean() < 0.4


def test_no_household_straddles_training_and_evaluation(training_frame, config) -> None:
    frame = training_frame
    y = frame.labels("abuse")
    usable = ~np.isnan(y) & ~frame.supported("abuse")
    periods = plan_periods(frame.months, observed_until="2025-10", config=config)
    split = split_rows(frame, usable, periods, config)
    data = frame.data
    seen = set(split.components[np.concatenate([split.train, split.early_stopping])])
    unseen = set(split.components[np.concatenate([split.calibration, split.test])])
    assert seen.isdisjoint(unseen)
    seen_homes = set(data["household_id"].iloc[split.train])
    assert seen_homes.isdisjoint(set(data["household_id"].iloc[split.test]))
    # The fabricated frame has children who change household: their groups span both homes.
    assert data.groupby("person_id")["household_id"].nunique().max() > 1
    months = data["as_of_month"].to_numpy(dtype=str)
    assert periods.train.mask(months[split.train]).all()
    assert periods.test.mask(months[split.test]).all()
    assert periods.validation.mask(months[split.calibration]).all()
    assert usable[split.test].all()
    # Training months are every k-th month, counted back from the last training month.
    stride = config.splits.train_month_stride
    assert len(set(months[split.train])) == (len(periods.train.months) + stride - 1) // stride


def test_leave_one_municipality_out_never_tests_on_what_it_trained(training_frame, config) -> None:
    frame = training_frame
    y = frame.labels("poverty")
    usable = ~np.isnan(y) & ~frame.supported("poverty")
    periods = plan_periods(frame.months, observed_until="2025-10", config=config)
    split = split_rows(frame, usable, periods, config)
    towns = frame.data["municipality"].to_numpy(dtype=str)
    months = frame.data["as_of_month"].to_numpy(dtype=str)
    local = leave_one_municipality_out(split, months, towns, "141003", usable)
    assert (towns[local.test] == "141003").all()
    assert not (towns[local.train] == "141003").any()
    assert not (towns[local.calibration] == "141003").any()
    assert set(split.components[local.train]).isdisjoint(split.components[local.test])
    assert periods.test.mask(months[local.test]).all()
    # An unseen town contributes more test rows than its held-out households alone.
    assert len(local.test) > int((towns[split.test] == "141003").sum())


def test_period_rejects_reversed_bounds() -> None:
    with pytest.raises(SplitError):
        Period("2024-05", "2024-01")
