"""Fixtures for training tests: a fabricated frame, a fast config and throwaway MLflow stores."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


@pytest.fixture(scope="session")
def fabricated():  # type: ignore[no-untyped-def]
    """The fabricated frame with its true_risk_<h> columns (seconds to build)."""
    from fabricated_frames import fabricate_frame

    return fabricate_frame()


@pytest.fixture(scope="session")
def true_risk(fabricated):  # type: ignore[no-untyped-def]
    from fabricated_frames import true_risk_of

    return true_risk_of(fabricated)


@pytest.fixture(scope="session")
def training_frame(fabricated):  # type: ignore[no-untyped-def]
    from fabricated_frames import training_part

    from training.frame import TrainingFrame

    return TrainingFrame.from_dataframe(training_part(fabricated))


@pytest.fixture(scope="session")
def config():  # type: ignore[no-untyped-def]
    """The packaged config, with leave-one-municipality-out off to keep tests quick."""
    from training.config import load_training_config

    base = load_training_config()
    return base.model_copy(
        update={
            "evaluation": base.evaluation.model_copy(update={"leave_one_municipality_out": False}),
            "lightgbm": base.lightgbm.model_copy(update={"max_rounds": 150}),
        }
    )


@pytest.fixture(scope="session")
def prepared(training_frame, config):  # type: ignore[no-untyped-def]
    from models.hardships import load_hardship_registry
    from training.train import prepare

    return prepare(training_frame, config, load_hardship_registry().hardships)


@pytest.fixture(scope="session")
def _empty_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An MLflow SQLite database with its tables made once (that takes seconds)."""
    from mlflow import MlflowClient

    folder = tmp_path_factory.mktemp("mlflow-template")
    database = folder / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{database}").search_experiments(max_results=1)
    return database


@pytest.fixture
def tracking_uri(_empty_store: Path, tmp_path: Path) -> str:
    """A fresh, empty tracking store for one test (a copy of the template database)."""
    database = tmp_path / "store" / "mlflow.db"
    database.parent.mkdir()
    shutil.copy(_empty_store, database)
    return f"sqlite:///{database}"
