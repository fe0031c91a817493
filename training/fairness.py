"""Fairness at the operating point: who gets flagged, and whose hardship is found, by group.

At the review capacity (the top share of each month's children), per group of sex, foreign
nationality, single-parent household and municipality: recall (children in hardship who are
flagged), false-positive rate (children not in hardship who are flagged anyway) and selection
rate (children flagged), computed with fairlearn's MetricFrame, each with a ratio to the best
group, so that 1.0 is the best group and smaller is worse:

- recall_ratio = recall / highest recall,
- false_positive_rate_ratio = lowest FPR / FPR (a group flagged needlessly more often is lower),
- selection_rate_ratio = selection rate / highest selection rate (fairlearn's demographic
  parity convention; a low ratio says a group is rarely reviewed, not that it is wronged).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame, count, false_positive_rate, selection_rate
from sklearn.metrics import recall_score

__all__ = ["FAIRNESS_COLUMNS", "fairness_table", "group_labels"]

FAIRNESS_COLUMNS = (
    "attribute",
    "group",
    "n",
    "positives",
    "recall",
    "false_positive_rate",
    "selection_rate",
    "recall_ratio",
    "false_positive_rate_ratio",
    "selection_rate_ratio",
)


def group_labels(values: pd.Series | np.ndarray) -> np.ndarray:
    """Readable group names: flags become yes / no, missing becomes unknown."""
    series = pd.Series(values).reset_index(drop=True)
    if pd.api.types.is_bool_dtype(series) or pd.api.types.is_numeric_dtype(series):
        numeric = pd.to_numeric(series, errors="coerce").astype("float64")
        if set(numeric.dropna().unique()) <= {0.0, 1.0}:
            labels = np.where(numeric == 1.0, "yes", "no").astype(object)
            labels[numeric.isna().to_numpy()] = "unknown"
            return labels
    labels = series.astype(object).where(series.notna(), "unknown").astype(str).to_numpy()
    return labels


def _recall(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(recall_score(y_true, y_pred, zero_division=np.nan))


def _positives(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(np.asarray(y_true).sum())


def fairness_table(
    y: np.ndarray,
    flagged: np.ndarray,
    attributes: Mapping[str, pd.Series | np.ndarray],
    *,
    order: Sequence[str] | None = None,
) -> pd.DataFrame:
    """One row per attribute and group (columns: FAIRNESS_COLUMNS)."""
    y_true = np.asarray(y, dtype=int)
    y_pred = np.asarray(flagged, dtype=int)
    metrics = {
        "n": count,
        "positives": _positives,
        "recall": _recall,
        "false_positive_rate": false_positive_rate,
        "selection_rate": selection_rate,
    }
    frames = []
    for attribute in order or list(attributes):
        groups = group_labels(attributes[attribute])
        frame = MetricFrame(
            metrics=metrics,
            y_true=y_true,
            y_pred=y_pred,
            sensitive_features=pd.Series(groups, name="group"),
        ).by_group
        frame = frame.reset_index().assign(attribute=attribute)
        frame["n"] = frame["n"].astype(int)
        frame["positives"] = frame["positives"].astype(int)
        best_recall = frame["recall"].max()
        best_fpr = frame["false_positive_rate"].min()
        best_selection = frame["selection_rate"].max()
        frame["recall_ratio"] = frame["recall"] / best_recall if best_recall else np.nan
        frame["false_positive_rate_ratio"] = np.where(
            frame["false_positive_rate"] > 0,
            best_fpr / frame["false_positive_rate"].where(frame["false_positive_rate"] > 0),
            1.0,
        )
        frame["selection_rate_ratio"] = (
            frame["selection_rate"] / best_selection if best_selection else np.nan
        )
        frames.append(frame[list(FAIRNESS_COLUMNS)])
    if not frames:
        return pd.DataFrame(columns=list(FAIRNESS_COLUMNS))
    return pd.concat(frames, ignore_index=True)
