"""Bad input gets a clear error and leaves the registry as it was."""

from __future__ import annotations

import time

import numpy as np
import pytest
from mlflow import MlflowClient

from models.hardships import UnknownHardshipError
from training.frame import MissingFeatureTableError, TrainingFrame
from training.registry import PromotionError, TrackingUnavailableError, promote
from training.train import EmptyLabelError, train_all


def _state(uri: str) -> tuple[list[tuple[str, str, tuple[str, ...]]], int]:
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    versions = sorted(
        (v.name, str(v.version), tuple(sorted(v.aliases))) for v in client.search_model_versions()
    )
    runs = sum(len(client.search_runs([e.experiment_id])) for e in client.search_experiments())
    return versions, runs


@pytest.fixture
def populated(tracking_uri: str) -> str:
    """A store that already holds a champion, so 'unchanged' means something."""
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    client.create_registered_model("mimamori-abuse")
    version = client.create_model_version("mimamori-abuse", source="file:///nowhere/model")
    client.set_registered_model_alias("mimamori-abuse", "champion", str(version.version))
    return tracking_uri


def test_a_label_without_positives_in_a_period(populated, training_frame, config) -> None:
    data = training_frame.data.copy()
    in_test = data["as_of_month"] >= "2024-11"
    data.loc[in_test & data["label_abuse"].notna(), "label_abuse"] = 0.0
    frame = TrainingFrame(data, training_frame.feature_names)
    before = _state(populated)
    with pytest.raises(EmptyLabelError, match=r"label_abuse has no positives in the test rows"):
        train_all(frame, config, populated, hardships=["poverty", "abuse"])
    assert _state(populated) == before


def test_a_hardship_not_in_the_registry(populated, training_frame, config) -> None:
    before = _state(populated)
    with pytest.raises(UnknownHardshipError, match=r"unknown hardship 'bullying'.*abuse"):
        train_all(training_frame, config, populated, hardships=["abuse", "bullying"])
    with pytest.raises(UnknownHardshipError):
        promote("bullying", populated)
    assert _state(populated) == before


def test_an_unreachable_tracking_uri_fails_fast(training_frame, config) -> None:
    started = time.perf_counter()
    with pytest.raises(TrackingUnavailableError, match="cannot reach"):
        train_all(training_frame, config, "http://127.0.0.1:9", hardships=["abuse"])
    assert time.perf_counter() - started < 15


def test_a_tracking_store_that_cannot_be_created(tmp_path, training_frame, config) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(TrackingUnavailableError):
        train_all(training_frame, config, f"sqlite:///{blocker}/mlflow.db", hardships=["abuse"])


def test_a_missing_feature_table(populated, config) -> None:
    import pandas as pd

    before = _state(populated)
    with pytest.raises(MissingFeatureTableError):
        train_all(pd.DataFrame(), config, populated)
    assert _state(populated) == before


def test_promotion_without_a_challenger(populated) -> None:
    before = _state(populated)
    with pytest.raises(PromotionError, match="no challenger"):
        promote("abuse", populated)
    with pytest.raises(PromotionError, match="no challenger"):
        promote("truancy", populated)
    assert _state(populated) == before


def test_empty_label_never_reaches_training(prepared, config) -> None:
    from models.hardships import load_hardship_registry
    from training.train import plan_hardship

    hardship = load_hardship_registry().get("young_carer")
    plan = plan_hardship(prepared, hardship, config)
    assert np.nansum(plan.y[plan.split.test]) > 0


def test_a_champion_that_cannot_be_loaded_blocks_promotion_not_training(
    populated, training_frame, config
) -> None:
    from training.config import PromotionGates

    cheap = config.model_copy(update={"audit": config.audit.model_copy(update={"ablate": False})})
    report = train_all(training_frame, cheap, populated, hardships=["abuse"])
    comparison = report.results["abuse"].champion
    assert comparison is not None and not comparison.comparable
    assert "cannot load" in comparison.reason
    decision = promote("abuse", populated, PromotionGates(max_ece=0.1))
    assert not decision.promoted and decision.checks["comparable"] is False
    client = MlflowClient(tracking_uri=populated, registry_uri=populated)
    aliases = client.get_registered_model("mimamori-abuse").aliases
    assert {k: str(v) for k, v in aliases.items()} == {"champion": "1", "challenger": "2"}
