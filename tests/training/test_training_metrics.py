"""Metrics on cases small enough to work out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from training.metrics import (
    _weighted_auc,
    calibration_table,
    evaluate,
    evaluate_by,
    expected_calibration_error,
    flag_at_capacity,
    paired_bootstrap_intervals,
    threshold_table,
)


def test_ece_is_zero_when_each_bin_matches_its_rate() -> None:
    y = np.array([0, 0, 0, 1, 1, 0, 1, 1])
    p = np.array([0.25, 0.25, 0.25, 0.25, 0.75, 0.75, 0.75, 0.75])
    assert expected_calibration_error(y, p, bins=2) == pytest.approx(0.0)


def test_ece_by_hand() -> None:
    # Two equal-count bins: predicted 0.1 vs observed 0.5, and 0.9 vs observed 0.5.
    y = np.array([0, 1, 0, 1])
    p = np.array([0.1, 0.1, 0.9, 0.9])
    assert expected_calibration_error(y, p, bins=2) == pytest.approx(0.4)
    table = calibration_table(y, p, bins=2)
    assert table["predicted"].tolist() == pytest.approx([0.1, 0.9])
    assert table["observed"].tolist() == pytest.approx([0.5, 0.5])


def test_capacity_flags_the_top_share_of_each_month() -> None:
    scores = np.array([0.9, 0.1, 0.5, 0.4, 0.8, 0.2, 0.3, 0.7])
    months = np.array(["2024-01"] * 4 + ["2024-02"] * 4)
    flags = flag_at_capacity(scores, months, capacity=0.25)
    assert flags.tolist() == [True, False, False, False, True, False, False, False]
    # 2.5 % of 40 children is one child; ties go to the earlier row.
    tied = flag_at_capacity(np.ones(40), np.zeros(40), capacity=0.025)
    assert tied.sum() == 1 and tied[0]


def test_recall_and_precision_at_capacity_by_hand() -> None:
    y = np.array([1, 0, 0, 1, 0, 0, 0, 0, 1, 0])
    p = np.array([0.9, 0.8, 0.1, 0.2, 0.3, 0.1, 0.1, 0.1, 0.1, 0.1])
    months = np.zeros(10)
    metrics = evaluate(y, p, months, capacity=0.2, ece_bins=2)
    # The top two are rows 0 (positive) and 1 (negative): one of three positives found.
    assert metrics.flagged == 2
    assert metrics.recall_at_capacity == pytest.approx(1 / 3)
    assert metrics.precision_at_capacity == pytest.approx(1 / 2)
    assert metrics.positives == 3
    assert 0.5 < metrics.roc_auc < 1.0
    assert metrics.brier == pytest.approx(float(np.mean((p - y) ** 2)))


def test_perfect_ranking_and_degenerate_labels() -> None:
    y = np.array([0, 0, 1, 1])
    p = np.array([0.1, 0.2, 0.8, 0.9])
    perfect = evaluate(y, p, np.zeros(4), capacity=0.5)
    assert perfect.roc_auc == 1.0 and perfect.pr_auc == 1.0 and perfect.recall_at_capacity == 1.0
    empty = evaluate(np.zeros(4), p, np.zeros(4), capacity=0.5)
    assert math.isnan(empty.roc_auc) and math.isnan(empty.recall_at_capacity)


def test_each_municipality_reviews_its_own_capacity() -> None:
    y = np.array([1, 0, 0, 0, 1, 0, 0, 0])
    p = np.array([0.9, 0.8, 0.7, 0.6, 0.2, 0.1, 0.1, 0.1])
    towns = np.array(["A"] * 4 + ["B"] * 4)
    by = evaluate_by(y, p, np.zeros(8), towns, capacity=0.25)
    # Pooled, B's child would never be flagged; within B, its top score is.
    assert by["A"].recall_at_capacity == 1.0
    assert by["B"].recall_at_capacity == 1.0
    pooled = evaluate(y, p, np.zeros(8), capacity=0.25)
    assert pooled.recall_at_capacity == 0.5


def test_threshold_table_reads_thresholds_from_the_reference_scores() -> None:
    reference = np.linspace(0, 1, 101)
    y = np.array([1, 0, 0, 0])
    p = np.array([0.99, 0.5, 0.4, 0.3])
    table = threshold_table(reference, y, p, np.zeros(4), [0.05, 0.25])
    assert table["threshold"].tolist() == pytest.approx([0.95, 0.75])
    assert table["flagged"].tolist() == [0, 1]
    assert table["recall"].tolist() == [0.0, 1.0]


def _separable(n_children: int, months: int, noise: float, seed: int) -> tuple[np.ndarray, ...]:
    """Rows of children over months: the true risk, outcomes from it, a noisy model score."""
    rng = np.random.default_rng(seed)
    child = np.repeat(np.arange(n_children), months)
    risk = np.repeat(rng.beta(1, 30, n_children), months)
    # One onset counts in every month whose window holds it: a child's labels move together.
    y = np.repeat(rng.random(n_children), months) < risk
    y = y.astype(float)
    # The model's error is the child's (its features), the same in each of its months.
    model = risk * np.repeat(np.exp(rng.normal(0, noise, n_children)), months)
    month = np.tile(np.arange(months), n_children).astype(str)
    return y, model, risk, month, child


def test_weighted_auc_matches_sklearn_with_weights_and_ties() -> None:
    rng = np.random.default_rng(3)
    y = (rng.random(5_000) < 0.1).astype(float)
    scores = np.round(rng.random(5_000) + 0.3 * y, 2)  # many ties
    weights = rng.poisson(1.0, 5_000).astype(float)
    values, codes = np.unique(scores, return_inverse=True)
    ours = _weighted_auc(codes, len(values), y == 1, weights)
    assert ours == pytest.approx(roc_auc_score(y, scores, sample_weight=weights), abs=1e-12)


def test_a_model_equal_to_the_reference_has_a_ratio_of_exactly_one() -> None:
    y, _, risk, month, child = _separable(2_000, 6, 0.0, seed=1)
    intervals = paired_bootstrap_intervals(
        y, risk, risk, month, child, capacity=0.05, compare="ratio"
    )
    assert intervals.roc_auc == (1.0, 1.0)
    assert intervals.recall_at_capacity == (1.0, 1.0)


def test_the_interval_holds_the_ratio_and_narrows_with_more_children() -> None:
    widths = []
    for n_children in (2_000, 32_000):
        y, model, risk, month, child = _separable(n_children, 3, 1.0, seed=2)
        intervals = paired_bootstrap_intervals(
            y, model, risk, month, child, capacity=0.05, compare="ratio"
        )
        point = roc_auc_score(y, model) / roc_auc_score(y, risk)
        low, high = intervals.roc_auc
        assert low < point < high
        widths.append(high - low)
    assert high < 1.0  # with enough children, a noisy copy of the risk is surely worse
    assert widths[1] < widths[0] / 2


def test_a_childs_months_are_resampled_together() -> None:
    # The same children, six months each: treating each row as its own cluster pretends to
    # six times the information and gives a narrower interval than resampling children does.
    y, model, risk, month, child = _separable(2_000, 6, 1.0, seed=4)
    by_child = paired_bootstrap_intervals(
        y, model, risk, month, child, capacity=0.05, compare="ratio"
    )
    by_row = paired_bootstrap_intervals(
        y, model, risk, month, np.arange(len(y)), capacity=0.05, compare="ratio"
    )
    assert by_child.roc_auc[1] - by_child.roc_auc[0] > by_row.roc_auc[1] - by_row.roc_auc[0]


def test_a_challenger_against_its_champion_on_the_same_children() -> None:
    y, model, risk, month, child = _separable(8_000, 3, 1.0, seed=5)
    same = paired_bootstrap_intervals(
        y, model, model, month, child, capacity=0.05, compare="difference"
    )
    assert same.roc_auc == (0.0, 0.0) and same.recall_at_capacity == (0.0, 0.0)
    # The true risk against a noisy copy of it: better beyond noise, in AUC and in recall.
    better = paired_bootstrap_intervals(
        y, risk, model, month, child, capacity=0.05, compare="difference"
    )
    assert better.roc_auc[0] > 0
    point = roc_auc_score(y, risk) - roc_auc_score(y, model)
    assert better.roc_auc[0] < point < better.roc_auc[1]
