"""A model card per model (markdown): what it was trained on, how well it does, where it fails."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from training.config import TrainingConfig
from training.frame import TrainingFrame
from training.metrics import Metrics

if TYPE_CHECKING:
    from training.train import HardshipResult

__all__ = ["feature_sources", "render_model_card"]


def _f(value: float, digits: int = 3) -> str:
    return "–" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def _metrics_row(name: str, m: Metrics) -> str:
    return (
        f"| {name} | {m.n:,} | {m.positives:,} | {_f(m.roc_auc)} | {_f(m.pr_auc)} | "
        f"{_f(m.brier, 4)} | {_f(m.ece, 4)} | {_f(m.recall_at_capacity)} | "
        f"{_f(m.precision_at_capacity)} | {m.flagged:,} |"
    )


_METRICS_HEADER = (
    "| rows | n | positives | ROC AUC | PR AUC | Brier | ECE | recall@cap | precision@cap "
    "| flagged |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
)


def feature_sources(names: list[str] | tuple[str, ...]) -> pd.DataFrame:
    """Japanese label, source and department per feature, from the feature catalogue if present."""
    rows = {n: {"feature": n, "label_ja": "", "source": "", "department": ""} for n in names}
    try:
        from features.catalogue import load_feature_catalogue

        catalogue = load_feature_catalogue()
        for name in names:
            try:
                spec = catalogue.spec(name)
            except KeyError:
                continue
            rows[name].update(
                label_ja=spec.label_ja, source=spec.source, department=spec.department
            )
    except (ImportError, ValueError, OSError):
        # The card still lists the features when the catalogue cannot be read.
        pass
    return pd.DataFrame(list(rows.values()))


def _table(frame: pd.DataFrame, digits: int = 3) -> str:
    if frame.empty:
        return "(none)"
    header = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    lines = [header, rule]
    for _, row in frame.iterrows():
        cells = [_f(float(v), digits) if isinstance(v, float) else str(v) for v in row.to_numpy()]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _unlabelled_municipalities(frame: TrainingFrame, hardship: str) -> list[str]:
    """Municipalities none of whose rows carries a label for `hardship`."""
    labelled = pd.Series(~np.isnan(frame.labels(hardship)), index=frame.data.index)
    per_town = labelled.groupby(frame.data["municipality"].astype(str), observed=True).any()
    return sorted(str(town) for town, seen in per_town.items() if not seen)


def render_model_card(result: HardshipResult, config: TrainingConfig, frame: TrainingFrame) -> str:
    h = result.hardship
    periods = result.periods
    municipalities = sorted(frame.data["municipality"].unique().tolist())
    unlabelled = _unlabelled_municipalities(frame, h.id)
    m = result.metrics
    lines = [
        f"# Model card: {h.id} ({h.label_ja})",
        "",
        f"{h.description}",
        "",
        "## Intended use",
        "",
        f"Ranks children not yet supported for {h.label_ja} by the calibrated probability of an "
        f"onset within {config.label_horizon_months} months, so staff can review the top "
        f"{config.capacity:.1%} each month. A score is a prompt for human review, never a "
        "decision about a family.",
        "",
        "## Data",
        "",
        f"- as-of months: {frame.months[0]}..{frame.months[-1]}; municipalities: "
        f"{', '.join(municipalities)}",
        (
            f"- municipalities without labels: {', '.join(unlabelled)}. A town that does not "
            "keep every record the label reads can see no onset: its children are in neither "
            "training nor the metrics, and are scored by a model trained on the other towns"
            if unlabelled
            else "- every municipality has labelled children"
        ),
        f"- training {periods.train}, validation (early stopping, calibration) "
        f"{periods.validation}, test {periods.test}; {periods.gap_months} months skipped between "
        f"periods (label horizon {periods.horizon})",
        f"- rows: {', '.join(f'{k} {v:,}' for k, v in result.split_sizes.items())}; calibration "
        f"and test rows come only from held-out households ({config.splits.holdout_fraction:.0%})",
        "- children already supported are excluded"
        + (" from training and evaluation" if config.exclude_already_supported else " from tests"),
        "",
        "## Model",
        "",
        f"LightGBM, {result.best_iteration} trees (early stopping"
        + (
            "; refitted on the training and early-stopping rows"
            if config.lightgbm.refit_with_early_stopping_rows
            else ""
        )
        + f"), num_leaves "
        f"{result.params.get('num_leaves')}, max_depth {result.params.get('max_depth')}, "
        f"negatives subsampled to {config.class_balance.negative_rate:.0%}"
        + (f"; tuned with {result.tuning_trials} Optuna trials" if result.tuning_trials else "")
        + ".",
        "",
        "### Features and their sources",
        "",
        _table(feature_sources(list(result.bundle.feature_names))),
        "",
        "## Test metrics",
        "",
        f"Review capacity {config.capacity:.1%} of each month's not-yet-supported children.",
        "",
        _METRICS_HEADER,
        _metrics_row("all (calibrated)", m),
        _metrics_row("all (uncalibrated)", result.uncalibrated),
    ]
    lines += [_metrics_row(f"municipality {k}", v) for k, v in result.by_municipality.items()]
    if result.oracle is not None:
        ratios = result.oracle.ratios
        lines += [
            "",
            "### Oracle gap (synthetic true risk on the same rows)",
            "",
            _METRICS_HEADER,
            _metrics_row("model", result.oracle.model),
            _metrics_row("true risk", result.oracle.oracle),
            "",
            f"Ratios model / true risk: ROC AUC {_f(ratios['roc_auc'])}, PR AUC "
            f"{_f(ratios['pr_auc'])}, recall at capacity {_f(ratios['recall_at_capacity'])} "
            f"(coverage {result.oracle.coverage:.0%} of test rows).",
        ]
        intervals = result.oracle.intervals
        if intervals is not None:
            lines.append(
                f"{intervals.level:.0%} intervals from {intervals.resamples} bootstrap resamples "
                f"of the test children: ROC AUC ratio {_f(intervals.roc_auc[0])} to "
                f"{_f(intervals.roc_auc[1])}, recall ratio {_f(intervals.recall_at_capacity[0])} "
                f"to {_f(intervals.recall_at_capacity[1])}; a bar inside an interval is not "
                "settled by this test period."
            )
    if result.leave_one_out:
        lines += [
            "",
            "### Leave one municipality out",
            "",
            "Trained on the other municipalities, tested on one it never saw.",
            "",
            _METRICS_HEADER,
        ]
        lines += [_metrics_row(k, v) for k, v in result.leave_one_out.items()]
    bars = result.bars(config)
    lines += [
        "",
        "## Calibration",
        "",
        f"{config.calibration.method} on held-out households of the validation period. Test ECE "
        f"{_f(m.ece, 4)} (uncalibrated {_f(result.uncalibrated.ece, 4)}); bar "
        f"{config.bars.max_ece}.",
        "",
        _table(result.calibration_by_municipality, 4),
        "",
        "## Fairness at the operating point",
        "",
        "Ratios are to the best group (1.0 best): recall / highest recall, lowest FPR / FPR, "
        "selection rate / highest selection rate.",
        "",
        _table(result.fairness),
        "",
        "## Over-influence audit",
        "",
        f"Share of total mean |SHAP| on {result.audit.rows_explained:,} test rows (flag above "
        f"{config.audit.max_share:.0%}, or a {config.audit.municipality_spread:g}x spread between "
        "municipalities that hold the source).",
        "",
        _table(
            result.audit.shares.sort_values(ascending=False)
            .head(15)
            .rename("share")
            .reset_index()
            .rename(columns={"index": "feature"})
        ),
        "",
        "Flagged: " + ("; ".join(f.describe() for f in result.audit.flagged) or "none") + ".",
    ]
    for ablation in result.audit.ablations:
        lines.append(
            f"- without {ablation.feature}: ROC AUC {_f(ablation.deltas['roc_auc'], 4)}, "
            f"recall at capacity {_f(ablation.deltas['recall_at_capacity'], 4)}, ECE "
            f"{_f(ablation.deltas['ece'], 4)} (change)"
        )
    if result.champion is not None:
        champion = result.champion
        lines += ["", "## Against the champion", ""]
        if champion.metrics is None:
            lines.append(f"Champion v{champion.version} not comparable: {champion.reason}.")
        else:
            lines += [
                _METRICS_HEADER,
                _metrics_row("this model", m),
                _metrics_row(f"champion v{champion.version}", champion.metrics),
            ]
            if champion.difference is not None:
                d = champion.difference
                lines += [
                    "",
                    f"This model minus the champion, {d.level:.0%} intervals from "
                    f"{d.resamples} bootstrap resamples of the same test children: ROC AUC "
                    f"{d.roc_auc[0]:+.4f} to {d.roc_auc[1]:+.4f}, recall at capacity "
                    f"{d.recall_at_capacity[0]:+.4f} to {d.recall_at_capacity[1]:+.4f}. An "
                    "interval that holds 0 is a difference this test period cannot tell apart "
                    "from chance.",
                ]
    if result.human_review is not None:
        from training.reviews import model_card_section

        lines += [
            "",
            model_card_section(result.human_review, min_reviews=config.reviews.min_reviews),
        ]
    lines += [
        "",
        "## Benchmark bars",
        "",
        ", ".join(
            f"{k}: {'n/a' if v is None else ('pass' if v else 'FAIL')}" for k, v in bars.items()
        ),
        "",
        "## Known limits",
        "",
        "- Labels are onsets as observed in departmental records: hardship that no department "
        "records is invisible to the model, and a department's recording practice shapes it.",
        "- A municipality that does not hold a source leaves those features missing; its "
        "scores rest on fewer signals (see the missing_<source> indicators and the "
        "per-municipality table).",
        "- Children already supported are not scored for this hardship; their needs are known.",
        "- Metrics on a short test period and small municipalities are noisy.",
        "- Fairness ratios describe who is flagged at this capacity; they do not prove or rule "
        "out unfair treatment and must be read with the base rates.",
    ]
    return "\n".join(lines) + "\n"
