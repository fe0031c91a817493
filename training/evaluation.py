"""The oracle gap: how close a model comes to the synthetic world's true risk on the same rows.

This is the only training code that touches ground truth, and it does not read files: the
caller passes a DataFrame (person_id, as_of_month, true_risk_<hardship> or true_risk) already
mapped to the training frame's ids. Real deployments have no oracle and pass nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from training.metrics import Metrics, PairedIntervals, evaluate, paired_bootstrap_intervals

__all__ = ["RATIO_METRICS", "OracleGap", "oracle_gap", "true_risk_column"]

# Ratios make sense for the metrics where higher is better.
RATIO_METRICS = ("roc_auc", "pr_auc", "recall_at_capacity", "precision_at_capacity")


def true_risk_column(hardship: str) -> str:
    return f"true_risk_{hardship}"


@dataclass(frozen=True)
class OracleGap:
    model: Metrics
    oracle: Metrics
    # Share of the test rows that had a true risk (the metrics use only those rows).
    coverage: float
    # How precisely the test rows pin the ratios down (a bootstrap over children).
    intervals: PairedIntervals | None = None

    @property
    def ratios(self) -> dict[str, float]:
        model, oracle = self.model.as_dict(), self.oracle.as_dict()
        return {
            name: model[name] / oracle[name]
            if oracle[name] and not math.isnan(oracle[name])
            else math.nan
            for name in RATIO_METRICS
        }


def oracle_gap(
    keys: pd.DataFrame,
    y: np.ndarray,
    scores: np.ndarray,
    true_risk: pd.DataFrame,
    hardship: str,
    *,
    capacity: float,
    ece_bins: int,
) -> OracleGap | None:
    """Model and true-risk metrics on the test rows that have a true risk (None: no column).

    `keys` holds person_id and as_of_month of the test rows, aligned with `y` and `scores`.
    """
    column = true_risk_column(hardship)
    if column not in true_risk.columns:
        if "true_risk" not in true_risk.columns:
            return None
        column = "true_risk"
    # The truth covers every month; joining only the test months keeps this quick at scale.
    months = keys["as_of_month"].astype(str).unique()
    truth = true_risk.loc[
        true_risk["as_of_month"].astype(str).isin(months), ["person_id", "as_of_month", column]
    ].astype({"person_id": str, "as_of_month": str})
    joined = (
        keys[["person_id", "as_of_month"]]
        .astype({"person_id": str, "as_of_month": str})
        .reset_index(drop=True)
        .merge(truth.drop_duplicates(["person_id", "as_of_month"]), how="left", validate="m:1")
    )
    risk = joined[column].to_numpy(dtype=np.float64)
    known = ~np.isnan(risk)
    if not known.any():
        return None
    months = joined["as_of_month"].to_numpy(dtype=str)[known]
    y_known = np.asarray(y, dtype=np.float64)[known]
    model_scores = np.asarray(scores, dtype=np.float64)[known]
    both_classes = 0 < y_known.sum() < len(y_known)
    return OracleGap(
        model=evaluate(y_known, model_scores, months, capacity=capacity, ece_bins=ece_bins),
        oracle=evaluate(y_known, risk[known], months, capacity=capacity, ece_bins=ece_bins),
        coverage=float(known.mean()),
        intervals=paired_bootstrap_intervals(
            y_known,
            model_scores,
            risk[known],
            months,
            joined["person_id"].to_numpy(dtype=str)[known],
            capacity=capacity,
            compare="ratio",
        )
        if both_classes
        else None,
    )
