"""Batch scoring on Dask: every child of some feature-store months, scored on a cluster.

    models = champion_models(tracking_uri)                     # the service's champions, once
    with Client(cluster) as client:
        scores = score_feature_store(features_path, ["2026-03"], models, client=client,
                                     explain_top_k=3)
        scores.to_parquet("scores/2026-03")                    # or .compute()

The in-process batch (`service.batch.run_batch`) holds the whole feature store in memory, which
is right for a municipality and wrong for the country. Here the store is read as a
dask.dataframe (only the wanted months, through parquet filters), each partition is scored by
the same champion bundles, and the result is one row per (child, month) with
`probability_<hardship>` and, when asked, `reasons_<hardship>`. Rows are independent of each
other, so any partitioning gives the same scores; no shuffle is needed.

The values are prepared as `FeatureStore.load` prepares them (float32, categories as codes in
the bundle's map), so the probabilities equal the engine's, bit for bit. Reasons are the
engine's explainer on pred_contrib, reduced to what `run_batch` stores: [feature, value,
log_odds] for the top factors, as JSON text so that the frame writes straight to parquet.
Percentiles and bands are per municipality and month and stay with the per-municipality batch
and API; a municipality's children fit one machine even at national scale.

The bundles are loaded once on the client and shipped to every worker once (scattered with
`client`, otherwise embedded in the graph as one key), not re-read per partition.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pandas as pd

from features.catalogue.feature_catalogue import FeatureCatalogue, load_feature_catalogue
from models.bundle import ModelBundle
from service.scoring.explanations import ModelExplainer

if TYPE_CHECKING:
    import dask.dataframe as dd
    from distributed import Client

__all__ = [
    "ID_COLUMNS",
    "ScoringModel",
    "champion_models",
    "probability_column",
    "read_feature_months",
    "reasons_column",
    "score_feature_store",
    "score_frame",
    "score_partition",
    "scoring_models",
]

ID_COLUMNS: Final = ("person_id", "as_of_month", "municipality")
_OVER_INFLUENCE_SHARE: Final = 0.5


def probability_column(hardship: str) -> str:
    return f"probability_{hardship}"


def reasons_column(hardship: str) -> str:
    return f"reasons_{hardship}"


@dataclass(frozen=True, eq=False)
class ScoringModel:
    """One hardship's bundle as shipped to the workers, with its explainer prepared once."""

    hardship: str
    version: str
    bundle: ModelBundle
    explainer: ModelExplainer


def scoring_models(
    bundles: Mapping[str, ModelBundle],
    versions: Mapping[str, str] | None = None,
    *,
    catalogue: FeatureCatalogue | None = None,
    over_influence_share: float = _OVER_INFLUENCE_SHARE,
) -> tuple[ScoringModel, ...]:
    """Bundles (hardship -> bundle) ready to ship; `versions` defaults to the bundle metadata's."""
    catalogue = catalogue or load_feature_catalogue()
    versions = versions or {}
    return tuple(
        ScoringModel(
            hardship=hardship,
            version=str(versions.get(hardship, bundle.metadata.get("version", "unregistered"))),
            bundle=bundle,
            explainer=ModelExplainer.build(
                bundle, catalogue, over_influence_share=over_influence_share
            ),
        )
        for hardship, bundle in bundles.items()
    )


def champion_models(
    tracking_uri: str,
    hardships: Sequence[str] | None = None,
    *,
    over_influence_share: float = _OVER_INFLUENCE_SHARE,
) -> tuple[ScoringModel, ...]:
    """The champion of each hardship, loaded from the registry as the service loads them.

    Raises RuntimeError naming every hardship without a loadable champion: a national run that
    silently skipped one hardship would look complete.
    """
    from models.hardships import load_hardship_registry
    from service.scoring.champions import Champions

    wanted = tuple(hardships) if hardships is not None else load_hardship_registry().ids
    champions = Champions(tracking_uri=tracking_uri, hardships=wanted)
    champions.reload()
    snapshot = champions.snapshot
    absent = {h: s.reason for h, s in snapshot.statuses.items() if not s.ready}
    if absent:
        raise RuntimeError(f"no champion to score with: {absent}")
    return scoring_models(
        {h: snapshot.models[h].bundle for h in wanted},
        {h: snapshot.models[h].version for h in wanted},
        over_influence_share=over_influence_share,
    )


# -- one partition ---------------------------------------------------------------------------------


def _matrix(frame: pd.DataFrame, bundle: ModelBundle) -> np.ndarray:
    """The bundle's columns as FeatureStore.load holds them: float32, categories as codes."""
    matrix = np.empty((len(frame), bundle.n_features), dtype=np.float32)
    for j, name in enumerate(bundle.feature_names):
        column = frame[name]
        categories = bundle.category_maps.get(name)
        if categories is not None and not (
            pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column)
        ):
            codes = pd.Categorical(column.astype("string"), categories=list(categories)).codes
            matrix[:, j] = np.where(codes < 0, np.nan, codes)
        else:
            # Through float32 even when the file holds float64: the engine's store does the
            # same, and a value rounded differently could fall on the other side of a split.
            matrix[:, j] = column.astype("float32").to_numpy(na_value=np.nan)
    return matrix


def _reason_text(factors: Sequence[Mapping[str, Any]]) -> str:
    reasons = []
    for factor in factors:
        value = factor.get("value")
        if isinstance(value, float) and math.isnan(value):
            value = None
        reasons.append([str(factor["feature"]), value, float(factor["log_odds"])])
    return json.dumps(reasons, ensure_ascii=False)


def score_partition(
    frame: pd.DataFrame,
    models: Sequence[ScoringModel],
    *,
    explain_top_k: int = 0,
    explain_from: Mapping[str, float] | None = None,
    threads: int = 1,
) -> pd.DataFrame:
    """Scores (and optionally reasons) of every row of one pandas partition of the store.

    `explain_from` (hardship -> probability) explains only rows at or above it, as the batch
    explains banded children only; reasons of the others are None.
    """
    result = frame.loc[:, list(ID_COLUMNS)].reset_index(drop=True)
    # One task runs per Dask worker thread already; LightGBM's own threads on top of that
    # would oversubscribe the cores.
    options: dict[str, Any] = {"num_threads": threads}
    for model in models:
        bundle = model.bundle
        x = _matrix(frame, bundle)
        explain = explain_top_k > 0
        chosen = np.zeros(len(x), dtype=bool)
        if len(x) == 0:
            probabilities = np.empty(0, dtype=np.float64)
        else:
            # From raw_score even when explaining: pred_contrib's row sums may differ in the last
            # bits, and the engine's population scores (what batch runs store) use raw_score.
            margins = np.asarray(bundle.booster.predict(x, raw_score=True, **options))
            probabilities = bundle.calibrator.apply(margins)
            if explain:
                cut = (explain_from or {}).get(model.hardship)
                chosen = probabilities >= cut if cut is not None else np.ones(len(x), dtype=bool)
        result[probability_column(model.hardship)] = probabilities
        if not explain:
            continue
        reasons = np.full(len(x), None, dtype=object)
        if chosen.any():
            rows = x[chosen]
            contributions = np.asarray(bundle.booster.predict(rows, pred_contrib=True, **options))
            explained = model.explainer.explain_many(
                contributions, rows.astype(np.float64), explain_top_k
            )
            reasons[chosen] = [_reason_text(e["factors"]) for e in explained]
        result[reasons_column(model.hardship)] = pd.Series(reasons, dtype=object)
    return result


# -- the cluster -----------------------------------------------------------------------------------


def read_feature_months(
    path: str | Path,
    months: Sequence[str],
    *,
    columns: Sequence[str] | None = None,
    partitions: int | None = None,
) -> dd.DataFrame:
    """The store's rows at `months` as a dask DataFrame (one file or a folder of parquet files).

    Filters are pushed into the parquet reader, so row groups of other months are never read;
    a store written by month (`as_of_month=.../part.parquet`) is read a month per file. A single
    file of one row group comes back as one partition: `partitions` splits it.
    """
    import dask.dataframe as dd

    if not months:
        raise ValueError("no months to score")
    frame = dd.read_parquet(
        str(path),
        columns=list(columns) if columns is not None else None,
        filters=[("as_of_month", "in", [str(m) for m in months])],
    )
    if partitions is not None and partitions != frame.npartitions:
        frame = frame.repartition(npartitions=partitions)
    return frame


def score_frame(
    frame: dd.DataFrame,
    models: Sequence[ScoringModel],
    *,
    client: Client | None = None,
    explain_top_k: int = 0,
    explain_from: Mapping[str, float] | None = None,
    threads: int = 1,
) -> dd.DataFrame:
    """`score_partition` over every partition of `frame`, with the models shipped once."""
    import dask

    if not models:
        raise ValueError("no models to score with")
    meta = score_partition(
        frame._meta, models, explain_top_k=explain_top_k, explain_from=explain_from
    )
    shipped: Any
    if client is not None:
        # Broadcast: every worker needs every model, and a push now beats each worker pulling
        # the same bytes from whichever worker happened to hold them first.
        # A one-element list, so that the tuple travels as one object rather than one future
        # per model.
        [shipped] = client.scatter([tuple(models)], broadcast=True, hash=False)
    else:
        shipped = dask.delayed(tuple(models), pure=True, traverse=False)
    return frame.map_partitions(
        score_partition,
        shipped,
        explain_top_k=explain_top_k,
        explain_from=dict(explain_from) if explain_from is not None else None,
        threads=threads,
        meta=meta,
        enforce_metadata=False,
    )


def score_feature_store(
    path: str | Path,
    months: Sequence[str],
    models: Sequence[ScoringModel],
    *,
    client: Client | None = None,
    partitions: int | None = None,
    explain_top_k: int = 0,
    explain_from: Mapping[str, float] | None = None,
    threads: int = 1,
) -> dd.DataFrame:
    """Every child of the store at `months`, scored by `models` (see the module docstring)."""
    wanted = {name for model in models for name in model.bundle.feature_names}
    frame = read_feature_months(
        path, months, columns=[*ID_COLUMNS, *sorted(wanted)], partitions=partitions
    )
    return score_frame(
        frame,
        models,
        client=client,
        explain_top_k=explain_top_k,
        explain_from=explain_from,
        threads=threads,
    )
