"""An engine on the served world, shared by the scoring tests that only read it."""

from __future__ import annotations

import pytest

from service.scoring.champions import Champions
from service.scoring.engine import ScoringEngine


@pytest.fixture(scope="session")
def scoring_engine(served_world) -> ScoringEngine:  # type: ignore[no-untyped-def]
    from models.hardships import load_hardship_registry

    champions = Champions(served_world.tracking_uri, load_hardship_registry().ids)
    engine = ScoringEngine(champions, served_world.features_dir)
    engine.reload()
    assert engine.ready, engine.status()
    return engine


@pytest.fixture(scope="session")
def feature_frame(served_world):  # type: ignore[no-untyped-def]
    import pandas as pd

    return pd.read_parquet(served_world.features_dir / "features.parquet")
