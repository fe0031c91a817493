"""Model size against explanation cost: what a bigger model buys, and what it costs to explain.

TreeSHAP costs about trees x leaves x depth² per row, and the service must explain 100k
children x 5 hardships in under 60 s on two cores (12 s per model). `explanation_budgets`
trains one hardship at several sizes (a fixed number of trees, no early stopping, so the size
is the one named) and reports test ranking quality beside the measured time to compute
contributions for `rows` rows.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

from training.config import TrainingConfig
from training.fit import threads_for
from training.train import HardshipPlan, Prepared

__all__ = ["Budget", "explanation_budgets"]


@dataclass(frozen=True)
class Budget:
    num_leaves: int
    trees: int
    max_depth: int = -1


def explanation_budgets(
    prepared: Prepared,
    plan: HardshipPlan,
    config: TrainingConfig,
    budgets: Sequence[Budget],
    *,
    rows: int = 100_000,
    threads: int = 2,
) -> pd.DataFrame:
    """Per budget: test ROC/PR AUC, tree shape and seconds to explain `rows` rows."""
    split, y, columns = plan.split, plan.y, plan.columns
    rng = np.random.default_rng(config.splits.seed)
    draw = rng.random(len(split.train))
    keep = (y[split.train] == 1) | (draw < config.class_balance.negative_rate)
    train = split.train[keep]
    x_train, y_train = prepared.x(train, columns), y[train]
    x_test, y_test = prepared.x(split.test, columns), y[split.test]
    # The rows to explain: test rows repeated up to `rows` (cost depends on shape, not values).
    explain = np.resize(x_test, (rows, x_test.shape[1]))
    results = []
    for budget in budgets:
        params = {
            **config.lightgbm_params(),
            "num_leaves": budget.num_leaves,
            "max_depth": budget.max_depth,
            "num_threads": threads_for(len(train), threads),
        }
        started = time.perf_counter()
        booster = lgb.train(params, lgb.Dataset(x_train, y_train), num_boost_round=budget.trees)
        fit_seconds = time.perf_counter() - started
        margin = booster.predict(x_test, raw_score=True)
        started = time.perf_counter()
        booster.predict(explain, pred_contrib=True, num_threads=threads)
        explain_seconds = time.perf_counter() - started
        dump = booster.dump_model()["tree_info"]
        depth = max((_depth(t["tree_structure"]) for t in dump), default=0)
        results.append(
            {
                "num_leaves": budget.num_leaves,
                "trees": booster.num_trees(),
                "max_depth_seen": depth,
                "roc_auc": float(roc_auc_score(y_test, margin)),
                "pr_auc": float(average_precision_score(y_test, margin)),
                "fit_seconds": fit_seconds,
                f"explain_seconds_{rows // 1000}k": explain_seconds,
            }
        )
    return pd.DataFrame(results)


def _depth(node: dict) -> int:
    if "left_child" not in node:
        return 0
    return 1 + max(_depth(node["left_child"]), _depth(node["right_child"]))
