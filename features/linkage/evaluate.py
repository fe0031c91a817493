"""Pairwise precision, recall and F1 of a linkage against the truth, from cluster sizes.

Every pair of records counts once: a pair is predicted when both records have the same
person_id and true when both have the same true person. The counts come from the sizes of the
clusters and of their intersections (n records give n(n-1)/2 pairs), so a population of any
size is scored without listing its pairs.
"""

from __future__ import annotations

from typing import NamedTuple

import pandas as pd

__all__ = ["PairwiseMetrics", "pairwise_metrics"]


class PairwiseMetrics(NamedTuple):
    precision: float
    recall: float
    f1: float
    true_positive_pairs: int
    predicted_pairs: int
    true_pairs: int


def _pairs(sizes: pd.Series) -> int:
    n = sizes.astype("int64")
    return int((n * (n - 1) // 2).sum())


def pairwise_metrics(mapping: pd.DataFrame, truth: pd.DataFrame) -> PairwiseMetrics:
    """Score `mapping` (record_key, person_id) against `truth` (record_key, true_person).

    Only records present in both frames count. With no predicted pair precision is 1 (nothing
    was claimed), with no true pair recall is 1 (nothing was missed).
    Raises ValueError when a record_key appears twice in either frame.
    """
    for name, frame, column in (("mapping", mapping, "person_id"), ("truth", truth, "true_person")):
        missing = {"record_key", column} - set(frame.columns)
        if missing:
            raise ValueError(f"{name}: missing columns {', '.join(sorted(missing))}")
        if frame["record_key"].duplicated().any():
            raise ValueError(f"{name}: record_key must be unique")
    joined = mapping[["record_key", "person_id"]].merge(
        truth[["record_key", "true_person"]], on="record_key", how="inner"
    )
    predicted = _pairs(joined.groupby("person_id").size())
    true = _pairs(joined.groupby("true_person").size())
    both = _pairs(joined.groupby(["person_id", "true_person"]).size())
    precision = both / predicted if predicted else 1.0
    recall = both / true if true else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return PairwiseMetrics(precision, recall, f1, both, predicted, true)
