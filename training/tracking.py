"""Recording a training in MLflow: one parent run, a child run per hardship, then registration.

Each child run logs the parameters, the metrics (overall, per municipality, oracle gap, leave
one municipality out, influence shares, ablations, fairness minima, the champion on the same
rows), the provenance (git commit, data snapshot, linkage settings hash, config digest) and
artifacts: model card, PR and calibration plots, SHAP summary, threshold, fairness and
influence tables, and the model as a pyfunc with signature and input example. Models are
registered only after every run has been logged, so a failure while logging registers nothing.
"""

from __future__ import annotations

import json
import math
import re
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from training.config import TrainingConfig
from training.registry import default_artifact_location, register_challenger

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from training.train import HardshipResult, Progress, TrainingReport

__all__ = ["flat_metrics", "metric_key", "record_training", "version_tags"]

_BATCH = 900  # MLflow accepts at most 1000 metrics per log_batch call


def metric_key(*parts: str) -> str:
    """A valid MLflow metric name (municipality names may hold characters MLflow refuses)."""
    return "/".join(re.sub(r"[^\w.\- ]", "_", p) for p in parts)


def _finite(value: float) -> bool:
    return value is not None and not math.isnan(value) and not math.isinf(value)


def flat_metrics(result: HardshipResult) -> dict[str, float]:
    """Every number worth plotting across runs, by metric name."""
    out: dict[str, float] = {}

    def put(prefix: tuple[str, ...], values: dict[str, float]) -> None:
        for name, value in values.items():
            if _finite(value):
                out[metric_key(*prefix, name)] = float(value)

    put(("test",), result.metrics.as_dict())
    put(("test_uncalibrated",), result.uncalibrated.as_dict())
    put(("calibration_period",), {"ece": result.calibration_ece})
    for municipality, metrics in result.by_municipality.items():
        put(("municipality", municipality), metrics.as_dict())
    for _, row in result.calibration_by_municipality.iterrows():
        put(
            ("calibration", str(row["group"])),
            {"ece": row["ece"], "predicted_to_observed": row["predicted_to_observed"]},
        )
    if result.oracle is not None:
        put(("oracle",), result.oracle.oracle.as_dict())
        put(("oracle_ratio",), result.oracle.ratios)
        intervals = result.oracle.intervals
        if intervals is not None:
            for metric in ("roc_auc", "recall_at_capacity"):
                low, high = getattr(intervals, metric)
                put(("oracle_ratio_interval", metric), {"low": low, "high": high})
    for municipality, metrics in result.leave_one_out.items():
        put(("leave_one_out", municipality), metrics.as_dict())
    put(("share",), {k: float(v) for k, v in result.audit.shares.items()})
    for ablation in result.audit.ablations:
        put(("ablation", ablation.feature), ablation.deltas)
    for attribute, group in result.fairness.groupby("attribute"):
        put(
            ("fairness", str(attribute)),
            {
                "min_recall_ratio": float(group["recall_ratio"].min()),
                "min_false_positive_rate_ratio": float(group["false_positive_rate_ratio"].min()),
                "min_selection_rate_ratio": float(group["selection_rate_ratio"].min()),
            },
        )
    if result.champion is not None and result.champion.metrics is not None:
        put(("champion_same_test",), result.champion.metrics.as_dict())
    put(("timing",), {"seconds": result.seconds, "best_iteration": result.best_iteration})
    return out


def version_tags(result: HardshipResult, report: TrainingReport) -> dict[str, str]:
    """Tags on the registered version: what promotion gates read, and provenance."""
    m = result.metrics
    tags = {
        "hardship": result.hardship.id,
        "label_ja": result.hardship.label_ja,
        "periods.test": str(result.periods.test),
        "test.roc_auc": f"{m.roc_auc:.6f}",
        "test.pr_auc": f"{m.pr_auc:.6f}",
        "test.recall_at_capacity": f"{m.recall_at_capacity:.6f}",
        "test.ece": f"{m.ece:.6f}",
        "test.brier": f"{m.brier:.6f}",
        "flagged_features": ",".join(result.audit.flagged_features) or "none",
        "git_commit": report.provenance.git_commit or "unknown",
        "data_snapshot": report.provenance.data_snapshot or "unknown",
        "linkage_settings_hash": report.provenance.linkage_settings_hash or "unknown",
        "config_digest": report.config_digest,
    }
    champion = result.champion
    if champion is None:
        tags["champion.version"] = ""
    else:
        tags["champion.version"] = champion.version
        tags["champion.comparable"] = "true" if champion.comparable else "false"
        if champion.metrics is not None:
            tags["champion.roc_auc"] = f"{champion.metrics.roc_auc:.6f}"
            tags["champion.recall_at_capacity"] = f"{champion.metrics.recall_at_capacity:.6f}"
            tags["champion.ece"] = f"{champion.metrics.ece:.6f}"
        if champion.difference is not None:
            for metric in ("roc_auc", "recall_at_capacity"):
                low, high = getattr(champion.difference, metric)
                tags[f"champion.{metric}_difference_low"] = f"{low:.6f}"
                tags[f"champion.{metric}_difference_high"] = f"{high:.6f}"
        else:
            tags["champion.reason"] = champion.reason
    return tags


def _params(result: HardshipResult, config: TrainingConfig, report: TrainingReport) -> dict:
    params: dict[str, Any] = {f"lgbm.{k}": v for k, v in result.params.items()}
    params.update(
        {
            "hardship": result.hardship.id,
            "best_iteration": result.best_iteration,
            "tuning_trials": result.tuning_trials,
            "n_features": len(result.bundle.feature_names),
            "period.train": str(result.periods.train),
            "period.validation": str(result.periods.validation),
            "period.test": str(result.periods.test),
            "gap_months": result.periods.gap_months,
            "label_horizon_months": result.periods.horizon,
            "capacity": config.capacity,
            "calibration": config.calibration.method,
            "negative_rate": config.class_balance.negative_rate,
            "holdout_fraction": config.splits.holdout_fraction,
            "train_month_stride": config.splits.train_month_stride,
            "refit_with_early_stopping_rows": config.lightgbm.refit_with_early_stopping_rows,
            "exclude_already_supported": config.exclude_already_supported,
            "config_digest": report.config_digest,
            "git_commit": report.provenance.git_commit,
            "data_snapshot": report.provenance.data_snapshot,
            "linkage_settings_hash": report.provenance.linkage_settings_hash,
        }
    )
    params.update({f"rows.{k}": v for k, v in result.split_sizes.items()})
    return {k: str(v)[:500] for k, v in params.items()}


def _write_artifacts(result: HardshipResult, folder: Path) -> None:
    from training.plots import calibration_plot, pr_curve_plot, shap_summary_plot

    h = result.hardship
    (folder / "model_card.md").write_text(result.model_card, encoding="utf-8")
    result.thresholds.to_csv(folder / "thresholds.csv", index=False)
    result.fairness.to_csv(folder / "fairness.csv", index=False)
    result.calibration_by_municipality.to_csv(
        folder / "calibration_by_municipality.csv", index=False
    )
    result.calibration_curve.to_csv(folder / "calibration_curve.csv", index=False)
    shares = result.audit.by_municipality.T.assign(all=result.audit.shares)
    shares.rename_axis("feature").to_csv(folder / "influence_shares.csv")
    pd.DataFrame(
        [{"municipality": k, **v.as_dict()} for k, v in result.by_municipality.items()]
    ).to_csv(folder / "metrics_by_municipality.csv", index=False)
    pd.DataFrame(
        [{"municipality": k, **v.as_dict()} for k, v in result.leave_one_out.items()]
    ).to_csv(folder / "leave_one_municipality_out.csv", index=False)
    audit = {
        "flagged": [f.__dict__ for f in result.audit.flagged],
        "ablations": [
            {"feature": a.feature, "deltas": a.deltas, "without": a.without.as_dict()}
            for a in result.audit.ablations
        ],
    }
    (folder / "audit.json").write_text(json.dumps(audit, indent=2, default=str), encoding="utf-8")
    pr_curve_plot(
        result.y_test,
        result.p_test,
        folder / "pr_curve.png",
        title=f"{h.id}: precision-recall (test)",
        capacity_recall=result.metrics.recall_at_capacity,
    )
    calibration_plot(
        result.calibration_curve, folder / "calibration.png", title=f"{h.id}: calibration (test)"
    )
    shap_summary_plot(
        result.audit_contributions,
        result.audit_rows,
        result.bundle.feature_names,
        folder / "shap_summary.png",
    )


def _batches(items: list[Any]) -> Iterator[list[Any]]:
    for start in range(0, len(items), _BATCH):
        yield items[start : start + _BATCH]


def _experiment_id(client: MlflowClient, name: str, artifact_location: str | None) -> str:
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return str(experiment.experiment_id)
    return str(client.create_experiment(name, artifact_location=artifact_location))


def record_training(
    report: TrainingReport,
    config: TrainingConfig,
    *,
    artifact_location: str | None = None,
    progress: Progress | None = None,
) -> TrainingReport:
    """Log runs and models, then register every model as its hardship's challenger."""
    import mlflow
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param, RunTag

    from models.pyfunc import log_bundle, tracking

    uri = report.tracking_uri
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiment = _experiment_id(
        client, config.experiment, artifact_location or default_artifact_location(uri)
    )
    provenance = report.provenance
    common_tags = {
        "mlflow.source.git.commit": provenance.git_commit or "unknown",
        "git_commit": provenance.git_commit or "unknown",
        "data_snapshot": provenance.data_snapshot or "unknown",
        "linkage_settings_hash": provenance.linkage_settings_hash or "unknown",
        "config_digest": report.config_digest,
    }
    logged: dict[str, tuple[str, str]] = {}
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    with (
        tracking(uri),
        mlflow.start_run(experiment_id=experiment, run_name=f"train-{stamp}") as parent,
    ):
        report.parent_run_id = parent.info.run_id
        mlflow.set_tags(common_tags)
        mlflow.log_params(
            {
                "hardships": ",".join(report.results),
                "config_digest": report.config_digest,
                "capacity": config.capacity,
            }
        )
        mlflow.log_dict(config.model_dump(mode="json"), "config.json")
        for hardship, result in report.results.items():
            with mlflow.start_run(experiment_id=experiment, run_name=hardship, nested=True) as run:
                run_id = run.info.run_id
                now = int(datetime.now(UTC).timestamp() * 1000)
                metrics = [Metric(k, v, now, 0) for k, v in flat_metrics(result).items()]
                params = [Param(k, v) for k, v in _params(result, config, report).items()]
                tags = [
                    RunTag(k, v)
                    for k, v in {
                        **common_tags,
                        "hardship": hardship,
                        "label_ja": result.hardship.label_ja,
                        "flagged_features": ",".join(result.audit.flagged_features) or "none",
                        "bars": json.dumps(result.bars(config)),
                    }.items()
                ]
                client.log_batch(run_id, params=params, tags=tags)
                for batch in _batches(metrics):
                    client.log_batch(run_id, metrics=batch)
                with tempfile.TemporaryDirectory(prefix="mimamori-artifacts-") as scratch:
                    _write_artifacts(result, Path(scratch))
                    mlflow.log_artifacts(scratch)
                mlflow.log_dict(result.bundle.metadata, "bundle_metadata.json")
                info = log_bundle(result.bundle, input_example=result.audit_rows[:5])
                logged[hardship] = (info.model_uri, run_id)
            if progress is not None:
                progress.advance()
    for hardship, (model_uri, run_id) in logged.items():
        result = report.results[hardship]
        report.run_ids[hardship] = run_id
        report.versions[hardship] = register_challenger(
            uri,
            hardship,
            model_uri,
            run_id=run_id,
            tags=version_tags(result, report),
            description=(f"{result.hardship.label_ja} ({hardship}): {result.hardship.description}"),
        )
    return report
