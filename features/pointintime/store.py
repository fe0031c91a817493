"""The feature-store stage: linked records in, feature and label tables on disk, all or nothing.

`mimamori features` calls `build_feature_store`; the training stage reads what it writes. Files are
written to a staging folder and swapped in only when complete, so a failure never leaves a half
table next to a good one.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from features.labels.builder import build_labels
from features.pointintime.builder import build_features
from features.timeline.records import LinkedRecords

FEATURES_FILE = "features.parquet"
LABELS_FILE = "labels.parquet"
SUMMARY_FILE = "summary.json"


class FeatureStoreError(RuntimeError):
    """The stage was refused or failed; the previous feature store is untouched."""


@dataclass
class FeatureStoreSummary:
    rows: int
    children: int
    months: list[str]
    feature_columns: int
    purposes: list[str] | None
    horizon: int
    seconds: float
    label_prevalence: dict[str, float] = field(default_factory=dict)
    missing_source_rates: dict[str, float] = field(default_factory=dict)
    unlinked_rows: int = 0

    def as_rows(self) -> list[tuple[str, str]]:
        rows = [
            ("rows (child x as-of month)", f"{self.rows:,}"),
            ("children", f"{self.children:,}"),
            ("as-of months", f"{self.months[0]} .. {self.months[-1]} ({len(self.months)})"),
            ("feature columns", str(self.feature_columns)),
            ("purposes", "all" if self.purposes is None else ", ".join(self.purposes)),
            ("label horizon (months)", str(self.horizon)),
            ("source rows not placed on a person", f"{self.unlinked_rows:,}"),
            ("seconds", f"{self.seconds:.1f}"),
        ]
        rows += [(f"label rate: {k}", f"{v:.4f}") for k, v in self.label_prevalence.items()]
        rows += [(f"missing: {k}", f"{v:.3f}") for k, v in self.missing_source_rates.items()]
        return rows


def month_range(first: str, last: str) -> list[str]:
    """Inclusive 'YYYY-MM' range; a clear error for reversed or malformed bounds."""
    try:
        start, end = pd.Period(first, "M"), pd.Period(last, "M")
    except ValueError as error:
        raise FeatureStoreError(f"months must look like 2024-04: {error}") from None
    if end < start:
        raise FeatureStoreError(f"--to {last} is before --from {first}")
    return [str(p) for p in pd.period_range(start, end, freq="M")]


def build_feature_store(
    records: LinkedRecords,
    months: Sequence[str],
    out_dir: Path,
    *,
    purposes: Iterable[str] | None = None,
    horizon: int = 6,
) -> FeatureStoreSummary:
    began = time.perf_counter()
    chosen = None if purposes is None else sorted(set(purposes))
    features = build_features(records, months, purposes=chosen)
    if features.empty:
        raise FeatureStoreError("no child is resident in those months; check --from and --to")
    labels = build_labels(records, months, horizon=horizon)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".features-", dir=out_dir.parent))
    try:
        features.to_parquet(staging / FEATURES_FILE, index=False)
        labels.to_parquet(staging / LABELS_FILE, index=False)
        summary = _summary(records, features, labels, list(months), chosen, horizon, began)
        (staging / SUMMARY_FILE).write_text(json.dumps(summary.__dict__, indent=2))
        if out_dir.exists():
            shutil.rmtree(out_dir)
        staging.rename(out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return summary


def _summary(
    records: LinkedRecords,
    features: pd.DataFrame,
    labels: pd.DataFrame,
    months: list[str],
    purposes: list[str] | None,
    horizon: int,
    began: float,
) -> FeatureStoreSummary:
    prevalence = {}
    for column in labels.columns:
        if column.startswith("label_"):
            values = labels[column].dropna()
            prevalence[column.removeprefix("label_")] = (
                float(values.astype(float).mean()) if len(values) else float("nan")
            )
    missing = {
        column.removeprefix("missing_"): float(features[column].mean())
        for column in features.columns
        if column.startswith("missing_")
    }
    return FeatureStoreSummary(
        rows=len(features),
        children=int(features["person_id"].nunique()),
        months=months,
        feature_columns=len(features.columns) - 2,
        purposes=purposes,
        horizon=horizon,
        seconds=time.perf_counter() - began,
        label_prevalence=prevalence,
        missing_source_rates=missing,
        unlinked_rows=int(sum(records.unlinked_rows.values())),
    )
