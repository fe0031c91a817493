"""Population stability and missing-source rates: known answers, and the stored document."""

from __future__ import annotations

import math

import numpy as np
import pytest

from service.drift import (
    bin_shares,
    drift_gauges,
    drift_level,
    missing_rates,
    population_drift,
    psi,
    quantile_edges,
)


def test_identical_distributions_have_no_drift() -> None:
    rng = np.random.default_rng(1)
    reference = rng.normal(size=20_000)
    assert psi(reference, reference) == pytest.approx(0.0, abs=1e-12)
    # A fresh sample of the same distribution: only sampling noise.
    assert psi(reference, rng.normal(size=20_000)) < 0.01


def test_a_shifted_distribution_drifts_a_lot() -> None:
    rng = np.random.default_rng(2)
    reference = rng.normal(size=20_000)
    assert psi(reference, rng.normal(loc=1.0, size=20_000)) > 0.5
    small = psi(reference, rng.normal(loc=0.1, size=20_000))
    assert 0.0 < small < 0.1


def test_psi_known_answer_for_a_flag() -> None:
    # Half and half in the reference, 20 % / 80 % now: two bins (edge at 0.5), no NaN.
    reference = np.array([0.0] * 50 + [1.0] * 50)
    current = np.array([0.0] * 20 + [1.0] * 80)
    expected = (0.2 - 0.5) * math.log(0.2 / 0.5) + (0.8 - 0.5) * math.log(0.8 / 0.5)
    assert psi(reference, current, bins=2) == pytest.approx(expected, rel=1e-9)


def test_missing_values_are_a_bin_of_their_own() -> None:
    rng = np.random.default_rng(3)
    reference = rng.normal(size=10_000)
    current = rng.normal(size=10_000)
    current[:3_000] = np.nan  # a source stopped arriving for 30 % of children
    shares = bin_shares(current, quantile_edges(reference))
    assert shares[-1] == pytest.approx(0.3)
    assert shares.sum() == pytest.approx(1.0)
    # Dropping NaN would see no drift at all; as its own bin it is major drift.
    assert psi(reference, current[~np.isnan(current)]) < 0.01
    assert drift_level(psi(reference, current)) == "major"


def test_levels() -> None:
    assert drift_level(0.05) == "stable"
    assert drift_level(0.1) == "moderate"
    assert drift_level(0.2) == "major"
    assert drift_level(math.nan) == "stable"
    assert math.isnan(psi(np.array([]), np.array([1.0])))


def test_missing_rates_known_answer() -> None:
    rows = np.array([[1.0, 0.0, 5.0], [1.0, 1.0, 6.0], [0.0, 0.0, np.nan], [1.0, 0.0, 1.0]])
    rates = missing_rates(rows, ["missing_tax", "missing_attendance", "absence_days_3m"])
    assert rates == {"tax": 0.75, "attendance": 0.25}


def test_drift_document_flags_the_drifted_and_exports_gauges() -> None:
    rng = np.random.default_rng(4)
    columns = ["stable_feature", "shifted_feature", "missing_tax"]
    reference = np.column_stack(
        [rng.normal(size=5_000), rng.normal(size=5_000), (rng.random(5_000) < 0.1).astype(float)]
    )
    current = np.column_stack(
        [
            rng.normal(size=5_000),
            rng.normal(loc=2.0, size=5_000),
            (rng.random(5_000) < 0.4).astype(float),
        ]
    )
    scores_then = rng.beta(1, 30, size=5_000)
    document = population_drift(
        reference,
        current,
        columns,
        score_reference={"abuse": scores_then, "poverty": scores_then},
        score_current={"abuse": rng.beta(1, 30, size=5_000), "poverty": scores_then * 3},
        reference={"train": "2022-04..2024-03"},
    )
    assert set(document["features"]) == {"stable_feature", "shifted_feature"}
    assert document["features"]["stable_feature"]["level"] == "stable"
    assert document["features"]["shifted_feature"]["level"] == "major"
    assert document["scores"]["abuse"]["level"] == "stable"
    assert document["scores"]["poverty"]["level"] == "major"
    assert document["missing"]["tax"]["reference"] == pytest.approx(0.1, abs=0.02)
    assert document["missing"]["tax"]["current"] == pytest.approx(0.4, abs=0.02)
    names = [(f["kind"], f["name"]) for f in document["flags"]]
    assert set(names) == {("feature", "shifted_feature"), ("score", "poverty")}
    assert [f["psi"] for f in document["flags"]] == sorted(
        (f["psi"] for f in document["flags"]), reverse=True
    )

    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for s in drift_gauges(document)}
    assert samples[("mimamori_feature_psi", (("feature", "shifted_feature"),))] > 0.2
    assert samples[("mimamori_score_psi", (("hardship", "abuse"),))] < 0.1
    assert samples[("mimamori_drift_flags", (("level", "major"),))] == 2.0
    key = ("mimamori_missing_source_rate", (("period", "current"), ("source", "tax")))
    assert samples[key] == pytest.approx(0.4, abs=0.02)
    assert drift_gauges(None) == []
