"""Calibration: a map from the booster's log-odds to probabilities, fitted on held-out rows.

The booster is trained on negatively subsampled rows, so its raw probabilities are too high;
calibration on the held-out period (unsampled, unseen households) makes a score read as a
probability. Platt scaling (a logistic fit on the margin) keeps the ranking exactly and undoes a
subsampling shift by construction; isotonic regression fits any monotone distortion but ties
scores within its steps.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from models.bundle import Calibrator
from training.metrics import expected_calibration_error

__all__ = ["CalibrationError", "calibration_by", "fit_calibrator"]


class CalibrationError(ValueError):
    """Calibration rows without both outcomes."""


def fit_calibrator(margin: np.ndarray, y: np.ndarray, method: str = "platt") -> Calibrator:
    margin = np.asarray(margin, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if len(y) == 0 or y.min() == y.max():
        raise CalibrationError("calibration needs held-out rows with both outcomes")
    if method == "platt":
        # A very weak penalty: one slope and one intercept on thousands of rows need none.
        model = LogisticRegression(C=1e6, max_iter=1000)
        model.fit(margin.reshape(-1, 1), y.astype(int))
        return Calibrator(
            "platt", {"a": (float(model.coef_[0, 0]),), "b": (float(model.intercept_[0]),)}
        )
    if method == "isotonic":
        iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0, increasing=True)
        iso.fit(margin, y)
        return Calibrator(
            "isotonic",
            {
                "x": tuple(float(v) for v in iso.X_thresholds_),
                "y": tuple(float(v) for v in iso.y_thresholds_),
            },
        )
    raise CalibrationError(f"unknown calibration method {method!r} (platt or isotonic)")


def calibration_by(y: np.ndarray, p: np.ndarray, groups: np.ndarray, bins: int) -> pd.DataFrame:
    """Per group: rows, outcomes, mean predicted probability, observed rate, their ratio, ECE."""
    keys = np.asarray(groups).astype(str)
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    rows = []
    for key in sorted(set(keys.tolist())):
        mask = keys == key
        observed = float(y[mask].mean()) if mask.any() else math.nan
        predicted = float(p[mask].mean()) if mask.any() else math.nan
        rows.append(
            {
                "group": key,
                "n": int(mask.sum()),
                "positives": int(y[mask].sum()),
                "mean_predicted": predicted,
                "observed_rate": observed,
                "predicted_to_observed": predicted / observed if observed else math.nan,
                "ece": expected_calibration_error(y[mask], p[mask], bins),
            }
        )
    return pd.DataFrame(rows)
