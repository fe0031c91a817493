"""Calibration turns scores into probabilities, overall and per municipality."""

from __future__ import annotations

import numpy as np
import pytest

from training.calibration import CalibrationError, calibration_by, fit_calibrator
from training.metrics import expected_calibration_error


def _shifted(seed: int = 0, n: int = 40_000) -> tuple[np.ndarray, np.ndarray]:
    """Margins of a model trained on 30 % of negatives: true log-odds + log(1 / 0.3)."""
    rng = np.random.default_rng(seed)
    true_logit = rng.normal(-3.5, 1.0, size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-true_logit))).astype(float)
    return true_logit - np.log(0.3), y


@pytest.mark.parametrize("method", ["platt", "isotonic"])
def test_calibration_lowers_ece(method: str) -> None:
    margin, y = _shifted()
    raw = 1 / (1 + np.exp(-margin))
    calibrator = fit_calibrator(margin[:20_000], y[:20_000], method)
    test_margin, test_y = margin[20_000:], y[20_000:]
    before = expected_calibration_error(test_y, raw[20_000:])
    after = expected_calibration_error(test_y, calibrator.apply(test_margin))
    assert after < before / 3
    assert after < 0.01


def test_platt_undoes_a_subsampling_shift() -> None:
    margin, y = _shifted()
    calibrator = fit_calibrator(margin, y, "platt")
    assert calibrator.params["a"][0] == pytest.approx(1.0, abs=0.1)
    assert calibrator.params["b"][0] == pytest.approx(np.log(0.3), abs=0.15)


def test_isotonic_is_monotone() -> None:
    margin, y = _shifted(seed=1, n=5000)
    calibrator = fit_calibrator(margin, y, "isotonic")
    grid = np.linspace(margin.min() - 1, margin.max() + 1, 200)
    assert (np.diff(calibrator.apply(grid)) >= 0).all()


def test_calibration_needs_both_outcomes() -> None:
    with pytest.raises(CalibrationError):
        fit_calibrator(np.zeros(10), np.zeros(10), "platt")


def test_pipeline_model_is_calibrated_per_municipality(prepared, config) -> None:
    from models.hardships import load_hardship_registry
    from training.train import plan_hardship, train_hardship

    cheap = config.model_copy(update={"audit": config.audit.model_copy(update={"ablate": False})})
    plan = plan_hardship(prepared, load_hardship_registry().get("abuse"), cheap)
    result = train_hardship(prepared, plan, cheap)
    # Negatives were subsampled for training, so raw scores run high; calibration fixes that.
    assert result.metrics.ece < result.uncalibrated.ece / 2
    assert result.metrics.ece < 0.03
    table = result.calibration_by_municipality
    assert set(table["group"]) == set(prepared.municipalities)
    assert (table["predicted_to_observed"].between(0.4, 2.5)).all()
    # The calibrator keeps the ranking (Platt is monotone).
    assert result.metrics.roc_auc == pytest.approx(result.uncalibrated.roc_auc)


def test_calibration_by_group_by_hand() -> None:
    y = np.array([1, 0, 0, 0])
    p = np.array([0.5, 0.5, 0.1, 0.1])
    table = calibration_by(y, p, np.array(["A", "A", "B", "B"]), bins=2)
    a = table[table["group"] == "A"].iloc[0]
    assert a["observed_rate"] == 0.5 and a["mean_predicted"] == 0.5
    assert a["predicted_to_observed"] == pytest.approx(1.0)
