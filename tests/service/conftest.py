"""A served world for the service tests: the tiny population run through every stage once.

Synthesis, ingestion, linkage, features, training and promotion run once per session into a
temporary data folder, exactly as `mimamori demo` runs them. Tiny populations give noisy
calibration, so a hardship whose challenger misses the calibration gate is promoted with a
relaxed gate here: the service tests need a champion for every hardship, and the gate itself is
tested in tests/training.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass(frozen=True)
class ServedWorld:
    data_dir: Path
    database_url: str
    tracking_uri: str
    features_dir: Path


@pytest.fixture(scope="session")
def served_world(tmp_path_factory: pytest.TempPathFactory, tiny_population: Path) -> ServedWorld:
    from mimamori import cli
    from models.hardships import load_hardship_registry
    from training.config import PromotionGates
    from training.registry import CHAMPION, current_champions, promote

    data_dir = tmp_path_factory.mktemp("served") / "var"
    shutil.copytree(tiny_population, data_dir)
    cli.ingest(extracts=None, data_dir=data_dir)
    cli.link(data_dir=data_dir)
    cli.features(first="2022-04", last="2026-03", purpose=None, horizon=6, data_dir=data_dir)
    cli.train(hardship=None, data_dir=data_dir)
    settings = cli._settings(data_dir)
    tracking_uri = settings.resolved_mlflow_tracking_uri
    relaxed = PromotionGates(max_ece=1.0, roc_auc_tolerance=1.0, recall_tolerance=1.0)
    for hardship in load_hardship_registry().ids:
        promote(hardship, tracking_uri, relaxed)
    ids = load_hardship_registry().ids
    missing = set(ids) - set(current_champions(tracking_uri, ids))
    assert not missing, f"no {CHAMPION} for {sorted(missing)}"
    return ServedWorld(
        data_dir=data_dir,
        database_url=settings.resolved_database_url,
        tracking_uri=tracking_uri,
        features_dir=data_dir / "features",
    )
