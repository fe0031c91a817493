"""MLflow round trip: runs logged, challengers registered, champion moved only through gates."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from mlflow import MlflowClient

from training.config import PromotionGates
from training.registry import CHALLENGER, CHAMPION, promote


@pytest.fixture(scope="module")
def store(_empty_store: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("registry-store")
    shutil.copy(_empty_store, folder / "mlflow.db")
    return f"sqlite:///{folder / 'mlflow.db'}"


@pytest.fixture(scope="module")
def cheap(config):  # type: ignore[no-untyped-def]
    return config.model_copy(update={"audit": config.audit.model_copy(update={"ablate": False})})


@pytest.fixture(scope="module")
def first(training_frame, cheap, store, true_risk):  # type: ignore[no-untyped-def]
    from training.train import Provenance, train_all

    return train_all(
        training_frame,
        cheap,
        store,
        hardships=["abuse", "poverty"],
        true_risk=true_risk,
        provenance=Provenance(data_snapshot="snapshot-42", linkage_settings_hash="abc123"),
    )


def _aliases(client: MlflowClient, name: str) -> dict[str, str]:
    return {k: str(v) for k, v in client.get_registered_model(name).aliases.items()}


def test_training_logs_runs_and_registers_challengers(first, store) -> None:
    client = MlflowClient(tracking_uri=store, registry_uri=store)
    assert first.versions == {"abuse": "1", "poverty": "1"}
    for hardship in ("abuse", "poverty"):
        name = f"mimamori-{hardship}"
        assert _aliases(client, name) == {CHALLENGER: "1"}
        version = client.get_model_version(name, "1")
        assert version.tags["hardship"] == hardship
        assert float(version.tags["test.ece"]) == pytest.approx(
            first.results[hardship].metrics.ece, abs=1e-6
        )
        assert version.tags["champion.version"] == ""
        run = client.get_run(first.run_ids[hardship])
        assert run.data.params["data_snapshot"] == "snapshot-42"
        assert run.data.params["linkage_settings_hash"] == "abc123"
        assert len(run.data.params["git_commit"]) >= 7
        assert run.data.tags["mlflow.parentRunId"] == first.parent_run_id
        metrics = run.data.metrics
        for key in (
            "test/roc_auc",
            "test/pr_auc",
            "test/brier",
            "test/ece",
            "test/recall_at_capacity",
            "test/precision_at_capacity",
            "test/flagged",
            "municipality/131016/roc_auc",
            "oracle/roc_auc",
            "oracle_ratio/recall_at_capacity",
            "calibration/131016/ece",
            "share/household_tax_exempt",
            "fairness/sex/min_recall_ratio",
        ):
            assert key in metrics, key
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert {
            "model_card.md",
            "pr_curve.png",
            "calibration.png",
            "shap_summary.png",
            "thresholds.csv",
            "fairness.csv",
            "influence_shares.csv",
        } <= artifacts
    # Artifacts sit beside the SQLite store, not in the working directory.
    assert (Path(store.removeprefix("sqlite:///")).parent / "mlartifacts").is_dir()


def test_logged_pyfunc_serves_scores_and_contributions(first, store, training_frame) -> None:
    import mlflow

    from models.pyfunc import contribution_column, load_bundle, tracking

    result = first.results["abuse"]
    rows = result.bundle.encode(training_frame.data.iloc[:20])
    with tracking(store):
        model = mlflow.pyfunc.load_model("models:/mimamori-abuse/1")
    scores = model.predict(rows)
    assert np.allclose(scores["score"].to_numpy(), result.bundle.score(rows))
    explained = model.predict(rows, params={"contributions": True})
    names = result.bundle.feature_names
    contributions = explained[[contribution_column(n) for n in names]].to_numpy()
    total = contributions.sum(axis=1) + explained["base_log_odds"].to_numpy()
    assert np.allclose(total, explained["log_odds"].to_numpy())
    assert model.metadata.signature.params is not None
    import shap

    expected = np.asarray(shap.TreeExplainer(result.bundle.booster).shap_values(rows[:5]))
    assert np.allclose(contributions[:5], expected, atol=1e-6)
    bundle = load_bundle("models:/mimamori-abuse@challenger", store)
    assert bundle.feature_names == names
    assert np.allclose(bundle.score(rows), result.bundle.score(rows))


def test_promotion_moves_the_champion_only_when_gates_pass(
    first, store, training_frame, cheap
) -> None:
    from training.train import train_all

    client = MlflowClient(tracking_uri=store, registry_uri=store)
    name = "mimamori-abuse"

    strict = promote("abuse", store, PromotionGates(max_ece=1e-6))
    assert not strict.promoted and strict.champion_after is None
    assert CHAMPION not in _aliases(client, name)
    tags = client.get_model_version(name, "1").tags
    assert tags["promotion.decision"] == "rejected"
    assert "ECE" in json.loads(tags["promotion.reasons"])[0]

    lenient = PromotionGates(max_ece=0.1)
    first_promotion = promote("abuse", store, lenient)
    assert first_promotion.promoted
    assert _aliases(client, name) == {CHAMPION: "1"}
    assert client.get_model_version(name, "1").tags["promotion.decision"] == "promoted"

    # The same data and seed give an equally good challenger: compared on the same test rows.
    second = train_all(training_frame, cheap, store, hardships=["abuse"])
    version = second.versions["abuse"]
    tags = client.get_model_version(name, version).tags
    assert tags["champion.version"] == "1" and tags["champion.comparable"] == "true"
    assert float(tags["champion.roc_auc"]) == pytest.approx(float(tags["test.roc_auc"]))
    assert float(tags["champion.roc_auc_difference_low"]) == 0.0
    assert float(tags["champion.roc_auc_difference_high"]) == 0.0
    from training.model_card import render_model_card

    card = render_model_card(second.results["abuse"], cheap, training_frame)
    assert "This model minus the champion" in card and "ROC AUC +0.0000 to +0.0000" in card
    decision = promote("abuse", store, lenient)
    assert decision.promoted and decision.champion_before == "1"
    assert "within this test period's noise" in decision.reasons[1]
    assert _aliases(client, name) == {CHAMPION: version}
    assert client.get_model_version(name, "1").tags["promotion.replaced_by"] == version

    # A challenger that sees only noise is worse on the same period: the champion stays.
    keep = ("noise_a", "noise_b")
    blind = cheap.model_copy(
        update={
            "features": cheap.features.model_copy(
                update={"exclude": tuple(n for n in training_frame.feature_names if n not in keep)}
            )
        }
    )
    worse = train_all(training_frame, blind, store, hardships=["abuse"])
    worse_version = worse.versions["abuse"]
    rejected = promote("abuse", store, lenient)
    assert not rejected.promoted
    assert rejected.checks["roc_auc"] is False
    assert _aliases(client, name) == {CHAMPION: version, CHALLENGER: worse_version}
    tags = client.get_model_version(name, worse_version).tags
    assert tags["promotion.decision"] == "rejected"
    assert any("worse" in reason for reason in json.loads(tags["promotion.reasons"]))
    assert float(tags["champion.roc_auc_difference_high"]) < 0
    assert "worse beyond this test period's noise" in rejected.reasons[1]
    assert client.get_model_version(name, version).tags.get("promotion.replaced_by") is None
