"""What the features could reach at best, and what a bigger model would cost to explain.

    python -m benchmarks.headroom --data-dir /tmp/t100k [--hardships abuse truancy] [--ceiling-only]
        [--no-append]

Needs a data folder where `python -m benchmarks.training` has run (the feature store and the
true risk mapped to pipeline ids, bench-training-true-risk.parquet). Two tables:

1. The features' ceiling. LightGBM fitted to the synthetic ground truth's true risk itself, on
   the training households' rows of the training and validation periods, then ranked on the
   same test rows as the model; two estimators (least squares on the risk's logit, and
   cross-entropy with the risk as a soft label), because each is only as good as its fit. A
   model trained on outcomes cannot rank better than the best function of the same features
   fitted to the true risk, up to noise: when this ceiling's ratio to the true risk is below a
   bar, no learner, setting or amount of history closes the gap; only information the features
   do not hold (a new source, or a better-built feature) can. The true risk uses the
   simulation's hidden states (parental mental health, care burden, a child's disengagement)
   that no municipal record shows.
2. Model size against explanation cost (training.budget.explanation_budgets): for each
   hardship, a few tree budgets fitted with a fixed number of trees, their test ROC AUC, and
   the time LightGBM's pred_contrib takes to explain 100,000 rows, summed over hardships
   against the 60 s bar of issue 6.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd

from benchmarks.common import append_results, interval_text
from benchmarks.training import ORACLE_FILE, database_url

# (num_leaves, max_depth, trees): the configured size first, then larger ones.
BUDGETS: Final = ((7, 3, 60), (15, 4, 100), (31, 6, 150))
EXPLAIN_ROWS: Final = 100_000
EXPLAIN_BAR_SECONDS: Final = 60.0


def _logit(p: np.ndarray) -> np.ndarray:
    clipped = np.clip(p, 1e-6, 1 - 1e-6)
    result: np.ndarray = np.log(clipped / (1 - clipped))
    return result


def _sigmoid(margin: np.ndarray) -> np.ndarray:
    result: np.ndarray = 1 / (1 + np.exp(-margin))
    return result


def _same(values: np.ndarray) -> np.ndarray:
    return values


# Two fits of the true risk from the features, each an estimate of the best the features allow.
# Least squares on the logit treats every row alike, so it spends itself on the bulk of tiny
# risks; cross-entropy on the risk as a soft label is the log-loss fit of a probability and
# weights rows by how much risk they carry, which is what ranking the top needs (young carer,
# whose risk is tiny for nearly every row, is where they part).
# Each: (objective, the label from the risk, the probability from the prediction).
CEILING_ESTIMATORS: Final[dict[str, tuple[str, Any, Any]]] = {
    "least squares on the logit": ("regression", _logit, _sigmoid),
    "cross-entropy on the risk": ("cross_entropy", _same, _same),
}


def _attach(keys: pd.DataFrame, truth: pd.DataFrame, column: str) -> np.ndarray:
    joined = keys.astype({"person_id": str, "as_of_month": str}).merge(
        truth, how="left", on=["person_id", "as_of_month"], validate="m:1"
    )
    values: np.ndarray = joined[column].to_numpy(dtype=np.float64)
    return values


def _measure(data_dir: str, hardships: list[str] | None, budgets: bool) -> dict[str, Any]:
    """In a fresh process: the ceiling and the budgets for each hardship."""
    import lightgbm as lgb

    from models.hardships import load_hardship_registry
    from training.budget import Budget, explanation_budgets
    from training.config import load_training_config
    from training.evaluation import oracle_gap, true_risk_column
    from training.fit import threads_for
    from training.frame import load_training_frame
    from training.train import plan_hardship, prepare

    folder = Path(data_dir)
    config = load_training_config()
    chosen = load_hardship_registry().select(hardships or config.hardships)
    frame = load_training_frame(folder / "features", database_url(folder))
    prepared = prepare(frame, config, chosen)
    oracle = pd.read_parquet(folder / ORACLE_FILE)
    keys = frame.data[["person_id", "as_of_month"]]
    results: dict[str, Any] = {}
    for hardship in chosen:
        plan = plan_hardship(prepared, hardship, config)
        split, y = plan.split, plan.y
        column = true_risk_column(hardship.id)
        truth = (
            oracle[["person_id", "as_of_month", column]]
            .astype({"person_id": str, "as_of_month": str})
            .drop_duplicates(["person_id", "as_of_month"])
        )
        rows = np.concatenate([split.train, split.early_stopping])
        risk = _attach(keys.iloc[rows].reset_index(drop=True), truth, column)
        known = ~np.isnan(risk)
        rows, risk = rows[known], risk[known]
        names = list(plan.feature_names)
        categorical = [j for j, n in enumerate(names) if n in prepared.category_maps]
        began = time.perf_counter()
        x_train = prepared.x(rows, plan.columns)
        x_test = prepared.x(split.test, plan.columns)
        ceilings: dict[str, dict[str, Any] | None] = {}
        for estimator, (objective, target, probability) in CEILING_ESTIMATORS.items():
            fitted = lgb.train(
                {
                    "objective": objective,
                    "num_leaves": 31,
                    "learning_rate": 0.05,
                    "min_child_samples": 50,
                    "feature_fraction": 0.8,
                    "verbosity": -1,
                    "num_threads": threads_for(len(rows), 2),
                    "seed": config.splits.seed,
                },
                lgb.Dataset(
                    x_train,
                    target(risk),
                    feature_name=names,
                    categorical_feature=categorical,
                ),
                num_boost_round=600,
            )
            ceiling_scores = probability(np.asarray(fitted.predict(x_test)))
            gap = oracle_gap(
                keys.iloc[split.test],
                y[split.test],
                ceiling_scores,
                oracle,
                hardship.id,
                capacity=config.capacity,
                ece_bins=config.calibration.ece_bins,
            )
            ceilings[estimator] = (
                None
                if gap is None
                else {
                    "model_auc": gap.model.roc_auc,
                    "oracle_auc": gap.oracle.roc_auc,
                    "model_recall": gap.model.recall_at_capacity,
                    "oracle_recall": gap.oracle.recall_at_capacity,
                    "auc_ratio_interval": gap.intervals.roc_auc if gap.intervals else None,
                    "recall_ratio_interval": (
                        gap.intervals.recall_at_capacity if gap.intervals else None
                    ),
                }
            )
        ceiling_seconds = time.perf_counter() - began
        sizes = (
            explanation_budgets(
                prepared,
                plan,
                config,
                [Budget(num_leaves=n, max_depth=d, trees=t) for n, d, t in BUDGETS],
                rows=EXPLAIN_ROWS,
            ).to_dict(orient="records")
            if budgets
            else None
        )
        results[hardship.id] = {
            "ceiling_seconds": ceiling_seconds,
            "ceilings": ceilings,
            "budgets": sizes,
        }
    return {"results": results, "capacity": config.capacity, "bars": config.bars.model_dump()}


def tables(run: dict[str, Any]) -> list[str]:
    bars, percent = run["bars"], f"{run['capacity'] * 100:g} %"
    lines = [
        "The features' ceiling: the true risk itself fitted from the features on the training "
        "households (two estimators), ranked on the model's test rows that have a true risk. "
        "Each is a function of the features, so the better one is the least the features allow.",
        "",
        f"| hardship | estimator | ceiling AUC | true risk AUC | ceiling ratio (bar "
        f"{bars['roc_auc_ratio_to_oracle']}) | ceiling recall@{percent} | true risk recall "
        f"| ceiling ratio (bar {bars['recall_ratio_to_oracle']}) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, result in run["results"].items():
        for estimator, c in result["ceilings"].items():
            if c is None:
                lines.append(f"| {name} | {estimator} | - | - | - | - | - | - |")
                continue
            recall_ratio = (
                c["model_recall"] / c["oracle_recall"] if c["oracle_recall"] else math.nan
            )
            lines.append(
                f"| {name} | {estimator} | {c['model_auc']:.3f} | {c['oracle_auc']:.3f} "
                f"| {c['model_auc'] / c['oracle_auc']:.3f}"
                f"{interval_text(c.get('auc_ratio_interval'))} "
                f"| {c['model_recall']:.3f} | {c['oracle_recall']:.3f} "
                f"| {recall_ratio:.3f}{interval_text(c.get('recall_ratio_interval'))} |"
            )
    lines += [
        "",
        "Ratios carry their 95 % interval from a bootstrap over the test children (200 Poisson "
        "resamples, ceiling and true risk on the same draw). A bar above an interval is out of "
        "reach of these features on this test period, not only of this estimate.",
    ]
    if any(result["budgets"] is None for result in run["results"].values()):
        return lines
    seconds_key = f"explain_seconds_{EXPLAIN_ROWS // 1000}k"
    lines += [
        "",
        "Model size against explanation cost: a fixed number of trees per budget (no early "
        f"stopping), test ROC AUC on all test rows, pred_contrib seconds for "
        f"{EXPLAIN_ROWS:,} rows on two threads.",
        "",
        "| budget (leaves x depth, trees) | "
        + " | ".join(f"{name} AUC" for name in run["results"])
        + f" | explain {EXPLAIN_ROWS // 1000}k rows, all hardships (s) "
        f"| under {EXPLAIN_BAR_SECONDS:.0f} s |",
        "| --- | " + " | ".join("---:" for _ in run["results"]) + " | ---: | --- |",
    ]
    for index, (leaves, depth, trees) in enumerate(BUDGETS):
        cells = [run["results"][name]["budgets"][index] for name in run["results"]]
        total = sum(cell[seconds_key] for cell in cells)
        shape = f"{leaves} x {'unbounded' if depth < 0 else depth}, {trees}"
        lines.append(
            f"| {shape} | "
            + " | ".join(f"{cell['roc_auc']:.3f}" for cell in cells)
            + f" | {total:.1f} | {'yes' if total < EXPLAIN_BAR_SECONDS else 'no'} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--hardships", nargs="+", default=None)
    parser.add_argument("--no-append", action="store_true", help="print only")
    parser.add_argument(
        "--ceiling-only", action="store_true", help="skip the model-size budgets (table 2)"
    )
    args = parser.parse_args()
    if not (args.data_dir / ORACLE_FILE).is_file():
        raise SystemExit(
            f"{args.data_dir / ORACLE_FILE} is missing: run `python -m benchmarks.training "
            f"--data-dir {args.data_dir}` first"
        )
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        run = pool.submit(
            _measure, str(args.data_dir), args.hardships, not args.ceiling_only
        ).result()
    lines = tables(run)
    if not args.no_append:
        append_results(
            "Headroom: the features' ceiling and model size", lines, "benchmarks.headroom"
        )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
