"""The same feature builder on dask.dataframe, partitioned by person.

    from distributed import Client, LocalCluster
    with LocalCluster(n_workers=2, processes=False) as cluster, Client(cluster):
        frame = build_features_dask(records, months, partitions=8).compute()

A child's features read the rows of the child, of everyone who shared a household with the
child, and of the child's mother. `partition_people` therefore puts each connected group of
people (linked through households, newborn records and allowances) wholly into one partition,
and every frame of the records is split the same way; each partition then runs the pandas
builder unchanged. The result equals `build_features` row for row (ordered by partition here;
sort by the key columns to compare).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Final

import dask.dataframe as dd
import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from features.catalogue import FeatureCatalogue, load_feature_catalogue
from features.pointintime.builder import build_features
from features.timeline.population import person_codes_for
from features.timeline.records import RELATED_PERSON_COLUMNS, LinkedRecords

__all__ = ["build_features_dask", "partition_people"]

_PARTITION: Final = "_partition"


def partition_people(records: LinkedRecords, partitions: int) -> pd.Series:
    """person_id -> partition (0..partitions-1), keeping households and mothers together.

    Groups of connected people are dealt out in order of their smallest member, cutting the
    running count of people into `partitions` nearly equal parts.
    """
    codes = person_codes_for(records)
    n = len(codes)
    residence = records.residence
    households = pd.Index(pd.unique(residence["household"].astype("str")))
    edges = [
        (
            codes.encode(residence["person_id"]),
            n + households.get_indexer(residence["household"].astype("str")),
        )
    ]
    for source, related in RELATED_PERSON_COLUMNS.items():
        frame = records.sources.get(source)
        if frame is None:
            continue
        for column in related.values():
            edges.append((codes.encode(frame["person_id"]), codes.encode(frame[column])))
    left = np.concatenate([a for a, _ in edges])
    right = np.concatenate([b for _, b in edges])
    keep = (left >= 0) & (right >= 0)
    size = n + len(households)
    graph = coo_matrix(
        (np.ones(int(keep.sum())), (left[keep], right[keep])), shape=(size, size)
    ).tocsr()
    _, component = connected_components(graph, directed=False)
    people = component[:n]
    # Components renumbered by first appearance in id order, then cut by cumulative size.
    _, first, inverse = np.unique(people, return_index=True, return_inverse=True)
    rank = np.argsort(np.argsort(first))[inverse]
    counts = np.bincount(rank)
    start = np.cumsum(counts) - counts
    part = np.minimum(start * partitions // max(n, 1), partitions - 1)
    return pd.Series(part[rank], index=codes.ids, name=_PARTITION)


def _split(frame: pd.DataFrame, partition_of: pd.Series, partitions: int) -> dd.DataFrame:
    index = partition_of.reindex(frame["person_id"].astype("str")).to_numpy()
    keyed = frame.assign(**{_PARTITION: np.nan_to_num(index, nan=0).astype(np.int64)})
    keyed = keyed.set_index(_PARTITION).sort_index(kind="stable")
    split = dd.from_pandas(keyed, npartitions=1, sort=True)
    return split.repartition(divisions=list(range(partitions + 1)), force=True)


def _build_partition(
    people: pd.DataFrame,
    residence: pd.DataFrame,
    *sources: pd.DataFrame,
    names: Sequence[str],
    holdings: dict[str, frozenset[str]],
    months: Sequence[str | pd.Period],
    purposes: frozenset[str] | None,
    catalogue: FeatureCatalogue,
) -> pd.DataFrame:
    records = LinkedRecords(
        sources={
            name: frame.reset_index(drop=True) for name, frame in zip(names, sources, strict=True)
        },
        people=people.reset_index(drop=True),
        residence=residence.reset_index(drop=True),
        holdings=holdings,
    )
    return build_features(records, months, purposes=purposes, catalogue=catalogue)


def build_features_dask(
    records: LinkedRecords,
    months: Sequence[str | pd.Period],
    *,
    purposes: Iterable[str] | None = None,
    partitions: int = 8,
    catalogue: FeatureCatalogue | None = None,
) -> dd.DataFrame:
    """`build_features` as a dask DataFrame with one partition per group of people."""
    catalogue = catalogue or load_feature_catalogue()
    allowed = None if purposes is None else frozenset(purposes)
    partition_of = partition_people(records, partitions)
    names = sorted(records.sources)
    frames = [
        _split(records.people, partition_of, partitions),
        _split(records.residence, partition_of, partitions),
        *(_split(records.sources[name], partition_of, partitions) for name in names),
    ]
    meta = build_features(records.about([]), months[:0], purposes=allowed, catalogue=catalogue)
    return dd.map_partitions(
        _build_partition,
        *frames,
        names=names,
        holdings=dict(records.holdings),
        months=list(months),
        purposes=allowed,
        catalogue=catalogue,
        meta=meta,
        align_dataframes=False,
        enforce_metadata=False,
    )
