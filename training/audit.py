"""The over-influence audit: which features carry too much of the judgement, and what they add.

The FY2025 demonstration found that some data items swayed the judgement more than they should
and flagged children who were not in hardship. Here every model's test rows are explained
(LightGBM's TreeSHAP) and each feature's share of the total mean |SHAP| is computed globally
and per municipality. A feature is flagged when

- its global share exceeds `max_share`, or
- its share differs sharply between municipalities: the largest share is at least `min_share`
  and `municipality_spread` times the smallest, among municipalities that hold its source (a
  town that does not hold a source leaves the feature missing; that is a data difference the
  `missing_<source>` indicators already show, not a different judgement).

Each flagged feature is then ablated: the model is retrained without it and the change in the
test metrics is reported, so a reviewer can see what the feature buys.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from models.explain import influence_shares, influence_shares_by
from training.config import AuditConfig
from training.metrics import Metrics

__all__ = [
    "Ablation",
    "FlaggedFeature",
    "InfluenceAudit",
    "ablate",
    "audit_influence",
]

# A municipality counts as holding a feature when at least this share of its rows have a value.
_HELD_SHARE = 0.5


@dataclass(frozen=True)
class FlaggedFeature:
    feature: str
    reason: str
    share: float
    highest_municipality: str | None = None
    highest_share: float = math.nan
    lowest_municipality: str | None = None
    lowest_share: float = math.nan

    def describe(self) -> str:
        if self.reason == "share":
            return f"{self.feature}: {self.share:.1%} of total mean |SHAP|"
        return (
            f"{self.feature}: {self.highest_share:.1%} of mean |SHAP| in "
            f"{self.highest_municipality} but {self.lowest_share:.1%} in "
            f"{self.lowest_municipality}"
        )


@dataclass(frozen=True)
class Ablation:
    feature: str
    without: Metrics
    # Metric without the feature minus metric with it (negative AUC delta: the feature helps).
    deltas: dict[str, float]


@dataclass
class InfluenceAudit:
    shares: pd.Series
    by_municipality: pd.DataFrame
    flagged: tuple[FlaggedFeature, ...]
    rows_explained: int
    ablations: list[Ablation] = field(default_factory=list)

    @property
    def flagged_features(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(f.feature for f in self.flagged))


def audit_influence(
    contributions: np.ndarray,
    feature_names: Sequence[str],
    municipalities: np.ndarray,
    observed: np.ndarray,
    config: AuditConfig,
) -> InfluenceAudit:
    """Shares and flags from contributions (n, f + 1) of explained rows.

    `observed` is (n, f): whether each row has a value for each feature.
    """
    names = list(feature_names)
    shares = influence_shares(contributions, names)
    by_municipality = influence_shares_by(contributions, names, municipalities)
    flagged: list[FlaggedFeature] = [
        FlaggedFeature(feature=name, reason="share", share=float(shares[name]))
        for name in shares.sort_values(ascending=False).index
        if shares[name] > config.max_share
    ]
    keys = np.asarray(municipalities).astype(str)
    held = pd.DataFrame(
        {m: observed[keys == m].mean(axis=0) >= _HELD_SHARE for m in by_municipality.index},
        index=names,
    ).T
    for name in names:
        holding = held.index[held[name].to_numpy(dtype=bool)]
        if len(holding) < 2:
            continue
        column = by_municipality.loc[holding, name]
        high, low = column.idxmax(), column.idxmin()
        if column[high] < config.min_share:
            continue
        if column[high] >= config.municipality_spread * max(float(column[low]), 1e-9):
            flagged.append(
                FlaggedFeature(
                    feature=name,
                    reason="municipality_spread",
                    share=float(shares[name]),
                    highest_municipality=str(high),
                    highest_share=float(column[high]),
                    lowest_municipality=str(low),
                    lowest_share=float(column[low]),
                )
            )
    return InfluenceAudit(
        shares=shares,
        by_municipality=by_municipality,
        flagged=tuple(flagged),
        rows_explained=len(contributions),
    )


def ablate(
    audit: InfluenceAudit,
    baseline: Metrics,
    retrain_without: Callable[[str], Metrics],
    max_ablations: int,
) -> list[Ablation]:
    """Retrain without each flagged feature (largest share first, at most `max_ablations`)."""
    ordered = sorted(audit.flagged_features, key=lambda f: -float(audit.shares[f]))
    results = []
    for feature in ordered[:max_ablations]:
        without = retrain_without(feature)
        before, after = baseline.as_dict(), without.as_dict()
        deltas = {k: after[k] - before[k] for k in before if k not in ("n", "positives")}
        results.append(Ablation(feature=feature, without=without, deltas=deltas))
    audit.ablations = results
    return results
