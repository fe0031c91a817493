"""Drift of a score run against what the models were trained and tested on.

    drift = population_drift(reference_rows, current_rows, columns,
                             score_reference={"abuse": p_test}, score_current={"abuse": p_now})
    drift["flags"]                      # features and scores with PSI >= 0.1, worst first

Population stability index per feature: bins are the deciles of the reference (the feature
store rows of the bundle's training months), with NaN as a bin of its own, because a source
that stops arriving shows up as NaN and must count as drift, not vanish. The scores of each
hardship are compared with the model's test-period scores (what its reported metrics describe).
Missing-source rates (the missing_* indicators) are reported now against the reference, since
a department whose extract is late changes what the model sees before it changes any score.

PSI >= 0.2 is flagged as major drift, 0.1-0.2 as moderate: the usual rule of thumb, which is a
prompt to look, not a verdict.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

import numpy as np

__all__ = [
    "DRIFT_BINS",
    "PSI_MAJOR",
    "PSI_MODERATE",
    "DriftLevel",
    "GaugeSample",
    "bin_shares",
    "drift_gauges",
    "drift_level",
    "missing_rates",
    "population_drift",
    "psi",
    "quantile_edges",
]

PSI_MAJOR: Final = 0.2
PSI_MODERATE: Final = 0.1
DRIFT_BINS: Final = 10
# Stands in for an empty bin's share: PSI is infinite otherwise, and one stray child in a bin
# the reference never filled should count as a lot, not as infinity.
_FLOOR: Final = 1e-4
MISSING_PREFIX: Final = "missing_"

DriftLevel = Literal["stable", "moderate", "major"]


def quantile_edges(reference: np.ndarray, bins: int = DRIFT_BINS) -> np.ndarray:
    """Inner bin edges: the reference's quantiles, de-duplicated (flags give one edge)."""
    values = np.asarray(reference, dtype=np.float64)
    values = values[~np.isnan(values)]
    if len(values) == 0:
        return np.empty(0, dtype=np.float64)
    inner = np.quantile(values, np.linspace(0.0, 1.0, bins + 1)[1:-1])
    return np.unique(inner)


def bin_shares(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Share of `values` in each bin (len(edges) + 1 value bins, then the NaN bin)."""
    values = np.asarray(values, dtype=np.float64)
    counts = np.zeros(len(edges) + 2, dtype=np.float64)
    if len(values) == 0:
        return counts
    nan = np.isnan(values)
    # side="right": a value equal to an edge falls in the bin above it, so for a 0/1 flag
    # (edges [0, 1] or [0]) zeros and ones land in different bins.
    positions = np.searchsorted(edges, values[~nan], side="right")
    counts[: len(edges) + 1] = np.bincount(positions, minlength=len(edges) + 1)
    counts[-1] = nan.sum()
    shares: np.ndarray = counts / len(values)
    return shares


def psi(reference: np.ndarray, current: np.ndarray, bins: int = DRIFT_BINS) -> float:
    """Population stability index of `current` against `reference` (NaN if either is empty)."""
    reference = np.asarray(reference, dtype=np.float64)
    current = np.asarray(current, dtype=np.float64)
    if len(reference) == 0 or len(current) == 0:
        return math.nan
    edges = quantile_edges(reference, bins)
    expected = np.maximum(bin_shares(reference, edges), _FLOOR)
    actual = np.maximum(bin_shares(current, edges), _FLOOR)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def drift_level(value: float) -> DriftLevel:
    if not math.isnan(value) and value >= PSI_MAJOR:
        return "major"
    if not math.isnan(value) and value >= PSI_MODERATE:
        return "moderate"
    return "stable"


def missing_rates(rows: np.ndarray, columns: Sequence[str]) -> dict[str, float]:
    """Per source (missing_<source> column), the share of rows whose source is missing."""
    result: dict[str, float] = {}
    for j, name in enumerate(columns):
        if not name.startswith(MISSING_PREFIX):
            continue
        column = np.asarray(rows[:, j], dtype=np.float64)
        known = column[~np.isnan(column)]
        result[name.removeprefix(MISSING_PREFIX)] = float(known.mean()) if len(known) else math.nan
    return result


def _number(value: float) -> float | None:
    # JSON has no NaN; None says "could not be measured".
    return None if math.isnan(value) else round(float(value), 6)


def population_drift(
    reference_rows: np.ndarray,
    current_rows: np.ndarray,
    columns: Sequence[str],
    *,
    score_reference: Mapping[str, np.ndarray],
    score_current: Mapping[str, np.ndarray],
    reference: Mapping[str, Any] | None = None,
    bins: int = DRIFT_BINS,
) -> dict[str, Any]:
    """The drift document stored in ScoreRun.drift (plain JSON).

    `reference_rows` and `current_rows` are feature matrices in `columns` order (the missing_*
    indicators among them); the score arrays are per hardship. `reference` describes where
    the reference came from (periods, row counts) and is stored as given.
    """
    features: dict[str, dict[str, Any]] = {}
    for j, name in enumerate(columns):
        if name.startswith(MISSING_PREFIX):
            continue
        value = psi(reference_rows[:, j], current_rows[:, j], bins)
        features[name] = {"psi": _number(value), "level": drift_level(value)}
    scores: dict[str, dict[str, Any]] = {}
    for hardship, current in score_current.items():
        base = score_reference.get(hardship)
        value = math.nan if base is None else psi(base, current, bins)
        scores[hardship] = {"psi": _number(value), "level": drift_level(value)}
    now, before = missing_rates(current_rows, columns), missing_rates(reference_rows, columns)
    missing = {
        source: {
            "current": _number(now[source]),
            "reference": _number(before.get(source, math.nan)),
            "change": _number(now[source] - before.get(source, math.nan)),
        }
        for source in now
    }
    flags = [
        {"kind": kind, "name": name, "psi": entry["psi"], "level": entry["level"]}
        for kind, block in (("feature", features), ("score", scores))
        for name, entry in block.items()
        if entry["level"] != "stable"
    ]
    flags.sort(key=lambda flag: -(flag["psi"] or 0.0))
    return {
        "reference": dict(reference or {}),
        "rows": {"reference": len(reference_rows), "current": len(current_rows)},
        "thresholds": {"moderate": PSI_MODERATE, "major": PSI_MAJOR},
        "features": features,
        "scores": scores,
        "missing": missing,
        "flags": flags,
    }


@dataclass(frozen=True)
class GaugeSample:
    """One value for a Prometheus gauge: `name{labels} value`."""

    name: str
    documentation: str
    labels: Mapping[str, str]
    value: float


def drift_gauges(drift: Mapping[str, Any] | None) -> list[GaugeSample]:
    """Gauge values of a run's drift document (service/metrics.py owns the gauges themselves).

    Unmeasurable values (None) are left out rather than exported as NaN, which alerting rules
    would have to special-case.
    """
    if not drift:
        return []
    samples: list[GaugeSample] = []
    for name, entry in drift.get("features", {}).items():
        if entry.get("psi") is not None:
            samples.append(
                GaugeSample(
                    "mimamori_feature_psi",
                    "Population stability index of a feature, latest run vs training months",
                    {"feature": name},
                    float(entry["psi"]),
                )
            )
    for hardship, entry in drift.get("scores", {}).items():
        if entry.get("psi") is not None:
            samples.append(
                GaugeSample(
                    "mimamori_score_psi",
                    "Population stability index of a hardship's scores, latest run vs test",
                    {"hardship": hardship},
                    float(entry["psi"]),
                )
            )
    for source, entry in drift.get("missing", {}).items():
        for period in ("current", "reference"):
            if entry.get(period) is not None:
                samples.append(
                    GaugeSample(
                        "mimamori_missing_source_rate",
                        "Share of children whose source is missing, latest run and reference",
                        {"source": source, "period": period},
                        float(entry[period]),
                    )
                )
    flags = drift.get("flags", [])
    for level in ("moderate", "major"):
        samples.append(
            GaugeSample(
                "mimamori_drift_flags",
                "Features and scores of the latest run flagged for drift",
                {"level": level},
                float(sum(1 for flag in flags if flag.get("level") == level)),
            )
        )
    return samples


# -- measuring a run's drift from the feature store ------------------------------------------

_ID_COLUMNS: Final = ("person_id", "as_of_month", "municipality")
# Deciles of a few hundred thousand rows are as good as of millions, at a fraction of the memory.
MAX_REFERENCE_ROWS: Final = 300_000


def read_rows(
    features_path: Any,
    reference_months: Sequence[str],
    month: str,
    *,
    max_reference_rows: int = MAX_REFERENCE_ROWS,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Feature rows of the reference months (sampled down to `max_reference_rows`) and every
    row of `month`, in one pass over the parquet file: (reference, current, columns)."""
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    dataset = ds.dataset(str(features_path), format="parquet")
    columns = tuple(n for n in dataset.schema.names if n not in _ID_COLUMNS)
    wanted = sorted({*reference_months, month})
    months_column = pc.field("as_of_month")
    reference_set = set(reference_months)
    total = dataset.count_rows(filter=months_column.isin(list(reference_set)))
    keep = 1.0 if total <= max_reference_rows else max_reference_rows / total
    random = np.random.default_rng(seed)
    reference_parts: list[np.ndarray] = []
    current_parts: list[np.ndarray] = []
    for batch in dataset.to_batches(
        columns=["as_of_month", *columns], filter=months_column.isin(wanted)
    ):
        if batch.num_rows == 0:
            continue
        batch_months = np.asarray(batch.column("as_of_month").to_pylist(), dtype=object)
        matrix = np.column_stack(
            [
                batch.column(name).to_numpy(zero_copy_only=False).astype(np.float64)
                for name in columns
            ]
        )
        is_current = batch_months == month
        current_parts.append(matrix[is_current])
        is_reference = np.isin(batch_months, list(reference_set))
        if keep < 1.0:
            is_reference &= random.random(len(batch_months)) < keep
        reference_parts.append(matrix[is_reference])
    empty = np.empty((0, len(columns)), dtype=np.float64)
    reference = np.vstack(reference_parts) if reference_parts else empty
    current = np.vstack(current_parts) if current_parts else empty
    return reference, current, columns


def measure_drift(
    engine: Any,
    resolver: Any,
    month: str,
    score_current: Mapping[str, np.ndarray],
) -> dict[str, Any]:
    """The drift document of a run at `month` (see the module docstring for the references).

    `engine` is the ScoringEngine and `resolver` the ThresholdResolver of the run (typed
    loosely to keep this module free of the service's heavier imports).
    """
    from service.thresholds import period_months

    hardships = [h for h in score_current if engine.model_version(h) is not None]
    train_periods = sorted({resolver.period(h, "train") for h in hardships})
    reference_months = sorted({m for p in train_periods for m in period_months(p)})
    score_reference: dict[str, np.ndarray] = {}
    test_periods: dict[str, str] = {}
    for hardship in hardships:
        test_periods[hardship] = resolver.period(hardship, "test")
        score_reference[hardship] = resolver.evaluation(hardship, "test").probabilities
    reference_rows, current_rows, columns = read_rows(
        engine.features_dir / "features.parquet", reference_months, month
    )
    return population_drift(
        reference_rows,
        current_rows,
        columns,
        score_reference=score_reference,
        score_current=score_current,
        reference={
            "month": month,
            "train": ", ".join(train_periods),
            "test": ", ".join(sorted(set(test_periods.values()))),
            "model_versions": ", ".join(f"{h} v{engine.model_version(h)}" for h in hardships),
        },
    )
