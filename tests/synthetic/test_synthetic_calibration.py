"""The synthetic population matches national base rates and is realistically hard to predict."""

from __future__ import annotations

import math

import pytest

from synthetic.calibration import TARGETS, measured_rates, oracle_auc
from synthetic.world import HARDSHIPS


@pytest.fixture(scope="module")
def rates(tiny_world):  # type: ignore[no-untyped-def]
    return measured_rates(tiny_world)


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.name)
def test_rate_matches_national_statistic(rates, target) -> None:  # type: ignore[no-untyped-def]
    measured = rates[target.name]
    assert abs(measured - target.value) <= target.tolerance, (
        f"{target.name}: {measured:.4f} vs {target.value} ± {target.tolerance} ({target.source})"
    )


def test_junior_high_truancy_is_about_three_times_elementary(rates) -> None:  # type: ignore[no-untyped-def]
    ratio = rates["truancy_junior_high"] / rates["truancy_elementary"]
    assert 1.8 <= ratio <= 4.5


def test_single_parents_are_far_poorer_than_two_parent_households(rates) -> None:  # type: ignore[no-untyped-def]
    assert rates["single_parent_poverty"] > 2.5 * rates["child_relative_poverty"]


def test_true_risk_ranks_well_but_not_perfectly(tiny_world) -> None:  # type: ignore[no-untyped-def]
    # The ceiling any model could reach: realistic (0.75-0.93), never close to 1.0.
    aucs = oracle_auc(tiny_world)
    for hardship in HARDSHIPS:
        value = aucs[hardship]
        assert not math.isnan(value), hardship
        assert 0.72 <= value <= 0.94, f"{hardship}: true-risk AUC {value:.3f}"
