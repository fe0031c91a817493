"""Figures logged with each model: precision-recall, calibration and a SHAP summary."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["calibration_plot", "pr_curve_plot", "shap_summary_plot"]

# The beeswarm draws every point; a sample of this size reads the same and draws in a second.
_SHAP_PLOT_ROWS = 2000


def _pyplot():  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def pr_curve_plot(
    y: np.ndarray, p: np.ndarray, path: Path, *, title: str, capacity_recall: float | None = None
) -> Path:
    from sklearn.metrics import precision_recall_curve

    plt = _pyplot()
    precision, recall, _ = precision_recall_curve(y, p)
    figure, axes = plt.subplots(figsize=(5, 4))
    axes.plot(recall, precision, lw=1.5)
    axes.axhline(float(np.mean(y)), color="grey", lw=0.8, ls="--", label="base rate")
    if capacity_recall is not None and not np.isnan(capacity_recall):
        axes.axvline(capacity_recall, color="tab:red", lw=0.8, ls=":", label="recall at capacity")
    axes.set(xlabel="recall", ylabel="precision", title=title, xlim=(0, 1), ylim=(0, 1))
    axes.legend(loc="upper right", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def calibration_plot(curve: pd.DataFrame, path: Path, *, title: str) -> Path:
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(5, 4))
    top = float(max(curve["predicted"].max(), curve["observed"].max(), 1e-3)) * 1.05
    axes.plot([0, top], [0, top], color="grey", lw=0.8, ls="--")
    axes.plot(curve["predicted"], curve["observed"], marker="o", lw=1.2)
    axes.set(
        xlabel="mean predicted probability",
        ylabel="observed rate",
        title=title,
        xlim=(0, top),
        ylim=(0, top),
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def shap_summary_plot(
    contributions: np.ndarray, rows: np.ndarray, feature_names: Sequence[str], path: Path
) -> Path:
    import shap

    plt = _pyplot()
    take = min(len(rows), _SHAP_PLOT_ROWS)
    shap.summary_plot(
        contributions[:take, :-1],
        rows[:take],
        feature_names=list(feature_names),
        show=False,
        max_display=20,
    )
    figure = plt.gcf()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
