"""The served world fixture itself: features exist for the months the service scores."""

from __future__ import annotations

import pandas as pd


def test_served_world_has_features_for_every_month(served_world) -> None:  # type: ignore[no-untyped-def]
    features = pd.read_parquet(served_world.features_dir / "features.parquet")
    assert {"person_id", "as_of_month", "municipality"} <= set(features.columns)
    assert features["as_of_month"].nunique() == 48
