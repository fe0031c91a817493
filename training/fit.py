"""Fitting one booster with early stopping, in this process (Dask fitting: training.dask_train).

The fitter is a parameter of training so that the same pipeline runs in-process or on a Dask
cluster; both return a booster trimmed to its best iteration.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import lightgbm as lgb
import numpy as np

__all__ = ["FitResult", "Fitter", "fit_local", "threads_for", "trimmed"]

# Ranking quality decides when to stop: the training rows are subsampled, so a probability loss
# on the validation rows would also measure the (later corrected) shift in base rate.
DEFAULT_METRIC = "auc"


@dataclass(frozen=True)
class FitResult:
    booster: lgb.Booster
    best_iteration: int
    validation_score: float


class Fitter(Protocol):
    def __call__(
        self,
        x: np.ndarray,
        y: np.ndarray,
        x_valid: np.ndarray,
        y_valid: np.ndarray,
        *,
        params: dict[str, Any],
        feature_names: Sequence[str],
        categorical: Sequence[int],
        max_rounds: int,
        early_stopping_rounds: int,
    ) -> FitResult: ...


# OpenMP threads pay off only on large data: on small data (and on a busy machine, where a
# spinning thread waits for a core) two threads were measured fifty times slower than one.
ROWS_PER_THREAD = 250_000


def threads_for(rows: int, limit: int) -> int:
    """Threads for a fit on `rows` rows, at most `limit` (the configured num_threads)."""
    return max(1, min(limit, rows // ROWS_PER_THREAD + 1))


def trimmed(booster: lgb.Booster, iterations: int) -> lgb.Booster:
    """A copy holding only the first `iterations` trees (smaller to store and to explain)."""
    return lgb.Booster(model_str=booster.model_to_string(num_iteration=iterations))


def fit_local(
    x: np.ndarray,
    y: np.ndarray,
    x_valid: np.ndarray,
    y_valid: np.ndarray,
    *,
    params: dict[str, Any],
    feature_names: Sequence[str],
    categorical: Sequence[int],
    max_rounds: int,
    early_stopping_rounds: int,
) -> FitResult:
    params = {"metric": DEFAULT_METRIC, **params}
    params["num_threads"] = threads_for(len(y), int(params.get("num_threads", 1) or 1))
    train_set = lgb.Dataset(
        x,
        label=y,
        feature_name=list(feature_names),
        categorical_feature=list(categorical),
        free_raw_data=True,
    )
    valid_set = lgb.Dataset(x_valid, label=y_valid, reference=train_set)
    booster = lgb.train(
        params,
        train_set,
        num_boost_round=max_rounds,
        valid_sets=[valid_set],
        valid_names=["validation"],
        callbacks=[lgb.early_stopping(early_stopping_rounds, verbose=False)],
    )
    best = booster.best_iteration or booster.current_iteration()
    metric = str(params["metric"]).split(",")[0]
    score = booster.best_score.get("validation", {}).get(metric, float("nan"))
    return FitResult(booster=trimmed(booster, best), best_iteration=best, validation_score=score)
