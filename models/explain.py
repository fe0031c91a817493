"""Explanation maths shared by training (the over-influence audit) and the service (per child).

Contributions are LightGBM's own TreeSHAP (`pred_contrib`), exact for the booster and in
log-odds; a test checks them against the shap package. Cost grows with trees x leaves x depth²,
which is why the training config keeps models modest.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = ["influence_shares", "influence_shares_by", "top_contributions"]


def influence_shares(contributions: np.ndarray, feature_names: Sequence[str]) -> pd.Series:
    """Each feature's share of the total mean |SHAP| (bias excluded); shares sum to 1.

    `contributions` is (n, n_features + 1) as `ModelBundle.contributions` returns it.
    """
    values = np.asarray(contributions, dtype=np.float64)
    if values.ndim != 2 or values.shape[1] != len(feature_names) + 1:
        raise ValueError(
            f"contributions of shape {values.shape} do not match {len(feature_names)} features"
        )
    mean_abs = np.abs(values[:, :-1]).mean(axis=0) if len(values) else np.zeros(len(feature_names))
    total = float(mean_abs.sum())
    shares = mean_abs / total if total > 0 else np.zeros_like(mean_abs)
    return pd.Series(shares, index=list(feature_names), name="share")


def influence_shares_by(
    contributions: np.ndarray, feature_names: Sequence[str], groups: Sequence[str] | np.ndarray
) -> pd.DataFrame:
    """Shares within each group (rows: group, columns: features)."""
    keys = np.asarray(groups).astype(str)
    rows = {
        group: influence_shares(contributions[keys == group], feature_names)
        for group in sorted(set(keys.tolist()))
    }
    return pd.DataFrame(rows).T.rename_axis("group")


def top_contributions(
    contributions: np.ndarray, feature_names: Sequence[str], k: int = 5
) -> list[list[tuple[str, float]]]:
    """Per row, the k features that moved the score most, largest |contribution| first."""
    values = np.asarray(contributions, dtype=np.float64)[:, :-1]
    order = np.argsort(-np.abs(values), axis=1, kind="stable")[:, :k]
    return [[(feature_names[j], float(values[i, j])) for j in row] for i, row in enumerate(order)]
