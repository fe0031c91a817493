"""Optional hyperparameter search (Optuna) on the validation period, with a fixed budget.

The search space stays inside the model-size budget (num_leaves up to `max_num_leaves`, at
most `max_rounds` trees), because explanation cost grows with trees x leaves x depth².
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from training.config import TrainingConfig
from training.fit import Fitter, fit_local

__all__ = ["tune"]


def tune(
    x: np.ndarray,
    y: np.ndarray,
    x_valid: np.ndarray,
    y_valid: np.ndarray,
    *,
    config: TrainingConfig,
    feature_names: Sequence[str],
    categorical: Sequence[int],
    fitter: Fitter = fit_local,
    seed: int = 0,
) -> tuple[dict[str, Any], float, int]:
    """The best parameters found, their validation score and the number of trials run."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    base = config.lightgbm_params()
    budget = config.tuning

    def objective(trial: optuna.Trial) -> float:
        params = {
            **base,
            "num_leaves": trial.suggest_int("num_leaves", 7, budget.max_num_leaves),
            "max_depth": trial.suggest_int("max_depth", 2, 5),
            "learning_rate": trial.suggest_float("learning_rate", 0.02, 0.2, log=True),
            "min_child_samples": trial.suggest_int("min_child_samples", 20, 400, log=True),
            "feature_fraction": trial.suggest_float("feature_fraction", 0.5, 1.0),
            "lambda_l2": trial.suggest_float("lambda_l2", 1e-3, 10.0, log=True),
        }
        result = fitter(
            x,
            y,
            x_valid,
            y_valid,
            params=params,
            feature_names=feature_names,
            categorical=categorical,
            max_rounds=config.lightgbm.max_rounds,
            early_stopping_rounds=config.lightgbm.early_stopping_rounds,
        )
        return float(result.validation_score)

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(objective, n_trials=budget.n_trials, timeout=budget.timeout_seconds)
    return {**base, **study.best_params}, float(study.best_value), len(study.trials)
