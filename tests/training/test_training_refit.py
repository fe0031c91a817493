"""Refitting on the early-stopping rows: the chosen tree count, more rows, held-out rows unseen."""

from __future__ import annotations

from typing import Any

import numpy as np

from models.hardships import load_hardship_registry
from training.fit import FitResult, fit_local


def test_refit_uses_the_chosen_rounds_on_training_and_early_stopping_rows(prepared, config) -> None:  # type: ignore[no-untyped-def]
    from training.train import _fit, plan_hardship

    refit = config.model_copy(
        update={
            "lightgbm": config.lightgbm.model_copy(update={"refit_with_early_stopping_rows": True}),
            "class_balance": config.class_balance.model_copy(update={"negative_rate": 1.0}),
        }
    )
    plan = plan_hardship(prepared, load_hardship_registry().get("poverty"), refit)
    calls: list[dict[str, Any]] = []

    def recording(x: np.ndarray, y: np.ndarray, *args: Any, **kwargs: Any) -> FitResult:
        calls.append({"rows": len(y), **kwargs})
        return fit_local(x, y, *args, **kwargs)

    fitted = _fit(
        prepared, plan, plan.split, plan.columns, refit.lightgbm_params(), refit, recording, "main"
    )

    first, second = calls
    split = plan.split
    assert first["rows"] == len(split.train)
    assert second["rows"] == len(split.train) + len(split.early_stopping)
    assert second["max_rounds"] <= refit.lightgbm.max_rounds
    assert second["early_stopping_rounds"] > second["max_rounds"]
    assert fitted.bundle.booster.num_trees() == fitted.best_iteration <= second["max_rounds"]
    # The reported validation score is the first fit's, measured on rows it did not train on.
    assert 0.5 < fitted.validation_score <= 1.0
