"""The over-influence audit flags a dominant feature and measures what it buys."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.explain import influence_shares
from training.audit import audit_influence
from training.config import AuditConfig


def test_shares_sum_to_one_and_ignore_the_bias() -> None:
    contributions = np.array([[1.0, -3.0, 100.0], [-1.0, 1.0, -100.0]])
    shares = influence_shares(contributions, ["a", "b"])
    assert shares.to_dict() == pytest.approx({"a": 1 / 3, "b": 2 / 3})


def test_a_sharp_difference_between_municipalities_is_flagged() -> None:
    rng = np.random.default_rng(0)
    n = 400
    towns = np.array(["A"] * 200 + ["B"] * 200)
    contributions = np.zeros((n, 4))
    contributions[:, 0] = rng.normal(0, 1.0, n)  # steady everywhere
    contributions[:, 1] = np.where(towns == "A", rng.normal(0, 2.0, n), rng.normal(0, 0.05, n))
    contributions[:, 2] = rng.normal(0, 0.5, n)
    observed = np.ones((n, 3), dtype=bool)
    audit = audit_influence(
        contributions, ["steady", "local", "other"], towns, observed, AuditConfig(max_share=0.9)
    )
    assert audit.flagged_features == ("local",)
    flag = audit.flagged[0]
    assert flag.reason == "municipality_spread"
    assert (flag.highest_municipality, flag.lowest_municipality) == ("A", "B")
    assert set(audit.by_municipality.index) == {"A", "B"}


def test_a_town_without_the_source_does_not_count_as_a_spread() -> None:
    rng = np.random.default_rng(1)
    n = 400
    towns = np.array(["A"] * 200 + ["B"] * 200)
    contributions = np.zeros((n, 3))
    contributions[:, 0] = rng.normal(0, 1.0, n)
    contributions[:, 1] = np.where(towns == "A", rng.normal(0, 1.0, n), 0.0)
    observed = np.ones((n, 2), dtype=bool)
    observed[towns == "B", 1] = False  # B does not hold the source: the feature is missing there
    audit = audit_influence(
        contributions, ["x", "epds"], towns, observed, AuditConfig(max_share=0.9)
    )
    assert "epds" not in audit.flagged_features


def test_injected_dominant_feature_is_flagged_and_ablated(config) -> None:
    from fabricated_frames import fabricate_frame, training_part

    from models.hardships import load_hardship_registry
    from training.frame import TrainingFrame
    from training.train import plan_hardship, prepare, train_hardship

    frame = TrainingFrame.from_dataframe(
        training_part(fabricate_frame(households=900, seed=3, dominant_feature="abuse"))
    )
    abuse = load_hardship_registry().get("abuse")
    prepared = prepare(frame, config, [abuse])
    result = train_hardship(prepared, plan_hardship(prepared, abuse, config), config)
    audit = result.audit
    assert audit.shares.idxmax() == "leaky_signal"
    assert audit.shares["leaky_signal"] > config.audit.max_share
    assert "leaky_signal" in audit.flagged_features
    ablation = next(a for a in audit.ablations if a.feature == "leaky_signal")
    # Without the leak the model ranks far worse: the feature carried the judgement.
    assert ablation.deltas["roc_auc"] < -0.1
    assert ablation.without.roc_auc == pytest.approx(
        result.metrics.roc_auc + ablation.deltas["roc_auc"]
    )
    assert "leaky_signal" in result.bundle.metadata["flagged_features"]
    by_town = audit.by_municipality
    assert isinstance(by_town, pd.DataFrame)
    assert by_town.sum(axis=1).to_numpy() == pytest.approx(np.ones(len(by_town)))
