"""Test-period metrics: ranking, probability quality and what a review capacity finds.

The capacity is a share of each month's scored (not-yet-supported, eligible) children: each
month reviewers can look at that many, so the flags are the top scores within each as-of
month (and, per municipality, within each municipality and month).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

__all__ = [
    "Metrics",
    "PairedIntervals",
    "calibration_table",
    "evaluate",
    "evaluate_by",
    "expected_calibration_error",
    "flag_at_capacity",
    "paired_bootstrap_intervals",
    "threshold_table",
]


@dataclass(frozen=True)
class Metrics:
    n: int
    positives: int
    roc_auc: float
    pr_auc: float
    brier: float
    ece: float
    recall_at_capacity: float
    precision_at_capacity: float
    flagged: int

    def as_dict(self) -> dict[str, float]:
        return {k: float(v) for k, v in asdict(self).items()}


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 15) -> float:
    """Mean |predicted - observed| over equal-count bins, weighted by bin size.

    Equal-count bins, because with rare outcomes almost every score falls in the first of
    equal-width bins and the error there hides everything else.
    """
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    if len(y) == 0:
        return math.nan
    order = np.argsort(p, kind="stable")
    total = 0.0
    for chunk in np.array_split(order, min(bins, len(order))):
        if len(chunk):
            total += len(chunk) * abs(float(p[chunk].mean()) - float(y[chunk].mean()))
    return total / len(y)


def calibration_table(y: np.ndarray, p: np.ndarray, bins: int = 15) -> pd.DataFrame:
    """Per equal-count bin: rows, mean predicted probability and observed rate."""
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    order = np.argsort(p, kind="stable")
    rows = [
        {"bin": i, "n": len(c), "predicted": float(p[c].mean()), "observed": float(y[c].mean())}
        for i, c in enumerate(np.array_split(order, min(bins, max(len(order), 1))))
        if len(c)
    ]
    return pd.DataFrame(rows, columns=["bin", "n", "predicted", "observed"])


def flag_at_capacity(
    scores: np.ndarray, groups: Sequence[object] | np.ndarray, capacity: float
) -> np.ndarray:
    """Flags for the top `capacity` share of scores within each group (ties: earlier row first)."""
    scores = np.asarray(scores, dtype=np.float64)
    n = len(scores)
    if n == 0:
        return np.zeros(0, dtype=bool)
    codes, uniques = pd.factorize(pd.Series(np.asarray(groups)).astype(str), sort=True)
    codes = np.asarray(codes)
    order = np.lexsort((np.arange(n), -scores, codes))
    counts = np.bincount(codes, minlength=len(uniques))
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    quota = np.floor(counts * capacity + 0.5).astype(np.int64)
    sorted_codes = codes[order]
    rank = np.arange(n) - starts[sorted_codes]
    flags = np.zeros(n, dtype=bool)
    flags[order] = rank < quota[sorted_codes]
    return flags


def _safe(metric: str, y: np.ndarray, p: np.ndarray) -> float:
    if len(y) == 0 or y.min() == y.max():
        return math.nan
    if metric == "roc_auc":
        return float(roc_auc_score(y, p))
    return float(average_precision_score(y, p))


def evaluate(
    y: np.ndarray,
    p: np.ndarray,
    months: np.ndarray,
    *,
    capacity: float,
    ece_bins: int = 15,
    flags: np.ndarray | None = None,
) -> Metrics:
    """Metrics of probabilities `p` for outcomes `y` (flags at capacity within each month)."""
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    if flags is None:
        flags = flag_at_capacity(p, months, capacity)
    positives = int(y.sum())
    hits = int((flags & (y == 1)).sum())
    flagged = int(flags.sum())
    return Metrics(
        n=len(y),
        positives=positives,
        roc_auc=_safe("roc_auc", y, p),
        pr_auc=_safe("pr_auc", y, p),
        brier=float(brier_score_loss(y, p)) if len(y) else math.nan,
        ece=expected_calibration_error(y, p, ece_bins),
        recall_at_capacity=hits / positives if positives else math.nan,
        precision_at_capacity=hits / flagged if flagged else math.nan,
        flagged=flagged,
    )


def evaluate_by(
    y: np.ndarray,
    p: np.ndarray,
    months: np.ndarray,
    by: np.ndarray,
    *,
    capacity: float,
    ece_bins: int = 15,
) -> dict[str, Metrics]:
    """Metrics within each value of `by`; each group reviews its own capacity each month."""
    keys = np.asarray(by).astype(str)
    months = np.asarray(months).astype(str)
    result = {}
    for key in sorted(set(keys.tolist())):
        mask = keys == key
        result[key] = evaluate(y[mask], p[mask], months[mask], capacity=capacity, ece_bins=ece_bins)
    return result


def threshold_table(
    reference_scores: np.ndarray,
    y: np.ndarray,
    p: np.ndarray,
    months: np.ndarray,
    capacities: Sequence[float],
) -> pd.DataFrame:
    """Per capacity: the probability threshold and what flagging by capacity finds on test.

    The threshold is the score quantile on the held-out calibration period, for a service that
    flags by a fixed probability; the test columns flag the top share within each month.
    """
    rows = []
    y = np.asarray(y, dtype=np.float64)
    positives = max(int(y.sum()), 1)
    for capacity in capacities:
        threshold = (
            float(np.quantile(reference_scores, 1.0 - capacity))
            if len(reference_scores)
            else math.nan
        )
        flags = flag_at_capacity(p, months, capacity)
        hits = int((flags & (y == 1)).sum())
        rows.append(
            {
                "capacity": capacity,
                "threshold": threshold,
                "flagged": int(flags.sum()),
                "true_positives": hits,
                "recall": hits / positives,
                "precision": hits / max(int(flags.sum()), 1),
                "share_above_threshold_on_test": float((p >= threshold).mean()) if len(p) else 0.0,
            }
        )
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class PairedIntervals:
    """Percentile intervals of a paired comparison of two scores (a ratio or a difference)
    over a cluster bootstrap of the same rows."""

    level: float
    resamples: int
    roc_auc: tuple[float, float]
    recall_at_capacity: tuple[float, float]


def _weighted_auc(codes: np.ndarray, n_values: int, positive: np.ndarray, w: np.ndarray) -> float:
    """ROC AUC with row weights `w`, ties counted half.

    `codes` ranks each row's score among the distinct scores (0 = lowest), so one sort serves
    every resample: per distinct score, the positives' and negatives' weight; each positive
    beats the negatives' weight below its score and half of that at its score.
    """
    pos = np.bincount(codes[positive], w[positive], minlength=n_values)
    neg = np.bincount(codes[~positive], w[~positive], minlength=n_values)
    below = np.cumsum(neg) - neg
    denominator = pos.sum() * neg.sum()
    return float((pos * (below + 0.5 * neg)).sum() / denominator) if denominator else math.nan


def _interval(values: np.ndarray, level: float) -> tuple[float, float]:
    values = values[np.isfinite(values)]
    if not len(values):
        return (math.nan, math.nan)
    tail = (1 - level) / 2 * 100
    return (float(np.percentile(values, tail)), float(np.percentile(values, 100 - tail)))


def paired_bootstrap_intervals(
    y: np.ndarray,
    first: np.ndarray,
    second: np.ndarray,
    months: np.ndarray,
    clusters: np.ndarray,
    *,
    capacity: float,
    compare: Literal["ratio", "difference"],
    resamples: int = 200,
    level: float = 0.95,
    seed: int = 0,
) -> PairedIntervals:
    """How precisely the test rows pin down first / second (a model against the true risk) or
    first - second (a challenger against its champion) for ROC AUC and recall at capacity.

    A Poisson bootstrap over clusters (a child's months move together, as they are not
    independent rows): each cluster is drawn a Poisson(1) number of times, and both scores are
    measured on the same draw. The flags at capacity stay those of the full test period (a
    resample does not re-rank the months).
    """
    positive = np.asarray(y, dtype=np.float64) == 1
    cluster_codes = np.asarray(pd.factorize(pd.Series(np.asarray(clusters)).astype(str))[0])
    n_clusters = int(cluster_codes.max()) + 1 if len(cluster_codes) else 0
    ranked = []
    for scores in (first, second):
        values, codes = np.unique(np.asarray(scores, dtype=np.float64), return_inverse=True)
        hits = flag_at_capacity(scores, months, capacity) & positive
        ranked.append((codes, len(values), hits))
    rng = np.random.default_rng(seed)
    draws = np.full((resamples, 4), np.nan)
    for j in range(resamples):
        w = rng.poisson(1.0, n_clusters).astype(np.float64)[cluster_codes]
        found = w[positive].sum()
        for k, (codes, n_values, hits) in enumerate(ranked):
            draws[j, k] = _weighted_auc(codes, n_values, positive, w)
            draws[j, 2 + k] = w[hits].sum() / found if found > 0 else math.nan
    with np.errstate(invalid="ignore", divide="ignore"):
        if compare == "ratio":
            auc, recall = draws[:, 0] / draws[:, 1], draws[:, 2] / draws[:, 3]
        else:
            auc, recall = draws[:, 0] - draws[:, 1], draws[:, 2] - draws[:, 3]
    return PairedIntervals(level, resamples, _interval(auc, level), _interval(recall, level))
