"""The same training on Dask: LightGBM's DaskLGBMClassifier on a cluster (local by default).

    with local_cluster(n_workers=2) as client:
        report = train_all(frame, config, tracking_uri, fitter=dask_fitter(client))

or simply `train_all_on_dask(frame, config, tracking_uri)`. Only the booster fit moves to the
cluster; splits, calibration, audit and registration are the in-process code, so a model
trained either way is the same kind of bundle.

Distributed LightGBM cannot stop early (each worker would judge on its own part of the
validation rows and the workers would fall out of step), so the cluster trains the full
`max_rounds` and the number of trees is then chosen, by the same validation AUC, on the
driver: the booster is trimmed to its best iteration exactly as early stopping would have.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from training.config import TrainingConfig
from training.fit import FitResult, Fitter, trimmed

if TYPE_CHECKING:
    from distributed import Client

    from training.frame import TrainingFrame
    from training.train import Progress, Provenance, TrainingReport

__all__ = ["best_iteration_by_auc", "dask_fitter", "local_cluster", "train_all_on_dask"]


@contextlib.contextmanager
def local_cluster(n_workers: int = 2, threads_per_worker: int = 1) -> Iterator[Client]:
    """A local Dask cluster of worker processes, closed on exit."""
    from distributed import Client, LocalCluster

    cluster = LocalCluster(
        n_workers=n_workers,
        threads_per_worker=threads_per_worker,
        processes=True,
        dashboard_address=None,
    )
    client = Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


def best_iteration_by_auc(
    booster: Any, x_valid: np.ndarray, y_valid: np.ndarray
) -> tuple[int, float]:
    """The tree count with the best validation AUC (the first, on ties) and that AUC."""
    total = booster.current_iteration()
    margin = np.zeros(len(x_valid))
    best, best_score = total, -math.inf
    for i in range(total):
        margin += booster.predict(x_valid, raw_score=True, start_iteration=i, num_iteration=1)
        score = float(roc_auc_score(y_valid, margin))
        if score > best_score:
            best, best_score = i + 1, score
    return best, best_score


def dask_fitter(client: Client) -> Fitter:
    """A fitter that trains on the cluster behind `client`."""

    def fit(
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
        import dask.array as da
        from lightgbm import DaskLGBMClassifier

        workers = max(1, len(client.scheduler_info()["workers"]))
        rows = math.ceil(len(x) / workers)
        dx = da.from_array(x, chunks=(rows, x.shape[1]))
        dy = da.from_array(y.astype(np.int64), chunks=rows)
        # The cluster decides threads per worker; LightGBM ignores num_threads under Dask.
        settings = {
            k: v for k, v in params.items() if k not in ("metric", "objective", "num_threads")
        }
        model = DaskLGBMClassifier(
            client=client, objective="binary", n_estimators=max_rounds, **settings
        )
        # Column names travel as a DataFrame would; a Dask array carries none, so set them here.
        model.fit(
            dx,
            dy,
            feature_name=list(feature_names),
            categorical_feature=list(categorical) or "auto",
        )
        booster = model.to_local().booster_
        best, score = best_iteration_by_auc(booster, x_valid, y_valid)
        return FitResult(
            booster=trimmed(booster, best), best_iteration=best, validation_score=score
        )

    return fit


def train_all_on_dask(
    frame: TrainingFrame | pd.DataFrame,
    config: TrainingConfig | None = None,
    tracking_uri: str | None = None,
    *,
    hardships: Sequence[str] | None = None,
    progress: Progress | None = None,
    true_risk: pd.DataFrame | None = None,
    provenance: Provenance | None = None,
    n_workers: int = 2,
    client: Client | None = None,
) -> TrainingReport:
    """`train_all` with every booster fitted on Dask (a local cluster unless `client` is given)."""
    from training.train import train_all

    with contextlib.ExitStack() as stack:
        if client is None:
            client = stack.enter_context(local_cluster(n_workers=n_workers))
        return train_all(
            frame,
            config,
            tracking_uri,
            hardships=hardships,
            progress=progress,
            true_risk=true_risk,
            provenance=provenance,
            fitter=dask_fitter(client),
        )
