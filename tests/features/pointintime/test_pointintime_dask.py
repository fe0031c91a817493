"""The dask path (partitioned by person) gives exactly the pandas path's features."""

from __future__ import annotations

import pandas as pd
import pytest
from distributed import Client, LocalCluster

from features.pointintime import KEY_COLUMNS, build_features
from features.pointintime.distributed import build_features_dask, partition_people
from features.timeline.records import LinkedRecords

MONTHS = [str(p) for p in pd.period_range("2023-10", "2024-09", freq="M")]


def test_partitions_keep_households_and_mothers_together(tiny: LinkedRecords) -> None:
    partition = partition_people(tiny, 4)
    assert set(partition.unique()) == {0, 1, 2, 3}
    parts = partition.reindex(tiny.residence["person_id"]).to_numpy()
    by_household = tiny.residence.assign(part=parts).groupby("household")["part"]
    assert (by_household.min() == by_household.max()).all()
    births = tiny.sources["birth"]
    assert (
        partition.reindex(births["person_id"]).to_numpy()
        == partition.reindex(births["mother_person_id"]).to_numpy()
    ).all()


@pytest.mark.slow
def test_dask_features_equal_pandas_features(tiny: LinkedRecords) -> None:
    expected = build_features(tiny, MONTHS)
    with (
        LocalCluster(n_workers=2, processes=False, dashboard_address=None) as cluster,
        Client(cluster),
    ):
        lazy = build_features_dask(tiny, MONTHS, partitions=6)
        assert lazy.npartitions == 6
        result = lazy.compute()
    keys = list(reversed(KEY_COLUMNS))
    pd.testing.assert_frame_equal(
        result.sort_values(keys).reset_index(drop=True),
        expected.sort_values(keys).reset_index(drop=True),
    )
