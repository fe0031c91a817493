"""The feature store held in memory for O(1) row lookup by (child_id, as-of month).

    store = FeatureStore.load(features_dir, category_maps={})
    index = store.row_index("00a3...", "2026-03")     # int or None
    row = store.values[index]                          # float32, in `store.columns` order

The parquet files are read once (and again only when they change on disk) into one float32
matrix: that is the dtype the feature builder writes, so nothing is lost, and it halves the
memory of a float64 copy (100k children x 48 months x 74 features is 1.4 GB in float32).
A dense (child, month) -> row table makes a lookup two dict hits and one array read, with no
pandas on the request path. Rows are also grouped by (month, municipality), which is what
percentiles, capacity thresholds and batch runs need.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import numpy as np

from models.hardships import supported_column

__all__ = [
    "FEATURES_FILE",
    "ID_COLUMNS",
    "LABELS_FILE",
    "FeatureStore",
    "FeatureStoreError",
    "StoreSignature",
]

FEATURES_FILE: Final = "features.parquet"
LABELS_FILE: Final = "labels.parquet"
ID_COLUMNS: Final = ("person_id", "as_of_month", "municipality")
_BATCH_ROWS: Final = 262_144


class FeatureStoreError(RuntimeError):
    """The feature store folder cannot be served (missing files, missing columns)."""


@dataclass(frozen=True)
class StoreSignature:
    """What identifies one version of the files on disk; a change means reload."""

    features: tuple[int, int]
    labels: tuple[int, int] | None

    @classmethod
    def of(cls, features_dir: Path) -> StoreSignature:
        def stat(path: Path) -> tuple[int, int] | None:
            try:
                info = path.stat()
            except FileNotFoundError:
                return None
            return (info.st_mtime_ns, info.st_size)

        features = stat(features_dir / FEATURES_FILE)
        if features is None:
            raise FeatureStoreError(
                f"no {FEATURES_FILE} in {features_dir}: run `mimamori features`"
            )
        return cls(features=features, labels=stat(features_dir / LABELS_FILE))


@dataclass(frozen=True, eq=False)
class FeatureStore:
    """Feature rows of every child and as-of month, indexed for the service."""

    features_dir: Path
    signature: StoreSignature
    columns: tuple[str, ...]
    values: np.ndarray  # float32 (rows, columns); categorical columns hold codes
    category_maps: Mapping[str, tuple[str, ...]]
    child_ids: tuple[str, ...]
    child_id_array: np.ndarray  # object array of child_ids, for gathering ids by row
    months: tuple[str, ...]  # sorted ascending
    municipalities: tuple[str, ...]  # sorted ascending
    row_child: np.ndarray  # int32 per row: index into child_ids
    row_month: np.ndarray  # int16 per row: index into months
    row_municipality: np.ndarray  # int16 per row: index into municipalities
    supported: Mapping[str, np.ndarray]  # hardship -> bool per row (False when unknown)
    _child_index: Mapping[str, int] = field(repr=False)
    _month_index: Mapping[str, int] = field(repr=False)
    _column_index: Mapping[str, int] = field(repr=False)
    _row_of: np.ndarray = field(repr=False)  # int32 (children, months), -1 when absent
    _groups: Mapping[tuple[int, int], slice] = field(repr=False)

    # -- loading ----------------------------------------------------------------------------------

    @classmethod
    def load(
        cls,
        features_dir: str | os.PathLike[str],
        *,
        hardships: Sequence[str] = (),
        category_maps: Mapping[str, Sequence[str]] | None = None,
    ) -> FeatureStore:
        """Read features.parquet (and labels.parquet's already_supported_<h>) into memory.

        `category_maps` encodes any non-numeric feature column as the models do (codes in the
        map's order, NaN for unknown); numeric columns are taken as they are.
        """
        import pandas as pd
        import pyarrow.parquet as pq

        folder = Path(features_dir)
        signature = StoreSignature.of(folder)
        parquet = pq.ParquetFile(folder / FEATURES_FILE)
        schema = parquet.schema_arrow
        missing_ids = [c for c in ID_COLUMNS if c not in schema.names]
        if missing_ids:
            raise FeatureStoreError(f"{FEATURES_FILE} lacks the columns {missing_ids}")
        columns = tuple(c for c in schema.names if c not in ID_COLUMNS)
        maps = {k: tuple(v) for k, v in (category_maps or {}).items() if k in columns}

        # Identifiers first: rows are stored sorted by (month, municipality), so that every
        # population a percentile or a threshold needs is one contiguous slice, scored without
        # gathering rows (and, for a model using every column, without copying at all).
        ids = pq.read_table(folder / FEATURES_FILE, columns=list(ID_COLUMNS))
        n_rows = ids.num_rows
        person = ids.column("person_id").to_pandas().astype(str).to_numpy(dtype=object)
        month = ids.column("as_of_month").to_pandas().astype(str).to_numpy(dtype=object)
        place = ids.column("municipality").to_pandas().astype(str).to_numpy(dtype=object)
        del ids
        child_codes, child_ids = pd.factorize(person, sort=False)
        month_codes, months = pd.factorize(month, sort=True)
        place_codes, places = pd.factorize(place, sort=True)
        del person, month, place
        order = np.lexsort((place_codes, month_codes))
        destination = np.empty(n_rows, dtype=np.intp)
        destination[order] = np.arange(n_rows)
        child_codes, month_codes, place_codes = (
            child_codes[order],
            month_codes[order],
            place_codes[order],
        )

        values = np.empty((n_rows, len(columns)), dtype=np.float32)
        start = 0
        for batch in parquet.iter_batches(batch_size=_BATCH_ROWS, columns=list(columns)):
            frame = batch.to_pandas()
            stop = start + len(frame)
            block = np.empty((stop - start, len(columns)), dtype=np.float32)
            for j, name in enumerate(columns):
                block[:, j] = _column_values(frame[name], maps.get(name), name)
            values[destination[start:stop]] = block
            start = stop

        row_of = np.full((len(child_ids), len(months)), -1, dtype=np.int32)
        row_of[child_codes, month_codes] = np.arange(n_rows, dtype=np.int32)
        if int((row_of >= 0).sum()) != n_rows:
            raise FeatureStoreError(f"{FEATURES_FILE} has duplicate (person_id, as_of_month) rows")

        supported = _supported(
            folder, hardships, pd.Index(child_ids), pd.Index(months), row_of, n_rows
        )
        keys = month_codes.astype(np.int64) * (len(places) + 1) + place_codes
        bounds = [0, *(np.flatnonzero(np.diff(keys)) + 1).tolist(), n_rows] if n_rows else [0]
        groups: dict[tuple[int, int], slice] = {}
        for first, last in itertools.pairwise(bounds):
            groups[(int(month_codes[first]), int(place_codes[first]))] = slice(first, last)
        values.setflags(write=False)
        return cls(
            features_dir=folder,
            signature=signature,
            columns=columns,
            values=values,
            category_maps=maps,
            child_ids=tuple(str(c) for c in child_ids),
            child_id_array=np.asarray([str(c) for c in child_ids], dtype=object),
            months=tuple(str(m) for m in months),
            municipalities=tuple(str(p) for p in places),
            row_child=child_codes.astype(np.int32),
            row_month=month_codes.astype(np.int16),
            row_municipality=place_codes.astype(np.int16),
            supported=supported,
            _child_index={str(c): i for i, c in enumerate(child_ids)},
            _month_index={str(m): i for i, m in enumerate(months)},
            _column_index={c: j for j, c in enumerate(columns)},
            _row_of=row_of,
            _groups=groups,
        )

    def is_current(self) -> bool:
        """False when the files on disk changed since this copy was read."""
        try:
            return StoreSignature.of(self.features_dir) == self.signature
        except FeatureStoreError:
            # A file being replaced is briefly missing: keep serving what we have.
            return True

    # -- lookups ----------------------------------------------------------------------------------

    @property
    def n_rows(self) -> int:
        return int(self.values.shape[0])

    @property
    def latest_month(self) -> str | None:
        return self.months[-1] if self.months else None

    def has_month(self, month: str) -> bool:
        return month in self._month_index

    def row_index(self, child_id: str, month: str) -> int | None:
        c = self._child_index.get(child_id)
        m = self._month_index.get(month)
        if c is None or m is None:
            return None
        row = int(self._row_of[c, m])
        return row if row >= 0 else None

    def municipality_of(self, row: int) -> str:
        return self.municipalities[int(self.row_municipality[row])]

    def group_slice(self, month: str, municipality: str) -> slice:
        """The rows of every child of `municipality` at `month` (an empty slice if none)."""
        m = self._month_index.get(month)
        try:
            p = self.municipalities.index(municipality)
        except ValueError:
            return slice(0, 0)
        if m is None:
            return slice(0, 0)
        return self._groups.get((m, p), slice(0, 0))

    def group_rows(self, month: str, municipality: str) -> np.ndarray:
        """Row indices of that population."""
        group = self.group_slice(month, municipality)
        return np.arange(group.start, group.stop)

    def column_positions(self, names: Sequence[str]) -> np.ndarray:
        """Positions of `names` among `columns` (a model's feature order)."""
        absent = [n for n in names if n not in self._column_index]
        if absent:
            raise FeatureStoreError(
                f"the feature store lacks the model's features {absent}; rebuild the features"
            )
        return np.fromiter((self._column_index[n] for n in names), dtype=np.intp, count=len(names))

    def compatible_with(self, category_maps: Mapping[str, Sequence[str]]) -> bool:
        """Whether a model's category codes mean what this copy's codes mean.

        Only columns that were text on disk were encoded with a map; numeric ones are codes
        already and need none.
        """
        return all(
            tuple(codes) == self.category_maps[name]
            for name, codes in category_maps.items()
            if name in self.category_maps
        )


def _column_values(column: object, categories: tuple[str, ...] | None, name: str) -> np.ndarray:
    import pandas as pd

    series = column if isinstance(column, pd.Series) else pd.Series(column)
    if pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
        return series.astype("float32").to_numpy(na_value=np.nan)
    if categories is None:
        raise FeatureStoreError(
            f"feature {name!r} is not numeric and no model gives a category map for it"
        )
    codes = pd.Categorical(series.astype("string"), categories=list(categories)).codes
    return np.where(codes < 0, np.nan, codes).astype(np.float32)


def _supported(
    folder: Path,
    hardships: Sequence[str],
    children: object,
    months: object,
    row_of: np.ndarray,
    n_rows: int,
) -> dict[str, np.ndarray]:
    """already_supported_<h> per feature row; rows the labels file lacks count as not supported."""
    import pandas as pd
    import pyarrow.parquet as pq

    result = {h: np.zeros(n_rows, dtype=bool) for h in hardships}
    path = folder / LABELS_FILE
    if not hardships or not path.exists():
        return result
    available = set(pq.ParquetFile(path).schema_arrow.names)
    wanted = [supported_column(h) for h in hardships if supported_column(h) in available]
    if not wanted:
        return result
    labels = pd.read_parquet(path, columns=["person_id", "as_of_month", *wanted])
    assert isinstance(children, pd.Index) and isinstance(months, pd.Index)
    c = children.get_indexer(labels["person_id"].astype(str))
    m = months.get_indexer(labels["as_of_month"].astype(str))
    known = (c >= 0) & (m >= 0)
    rows = row_of[c[known], m[known]]
    present = rows >= 0
    for hardship in hardships:
        column = supported_column(hardship)
        if column not in labels.columns:
            continue
        flags = labels[column].fillna(False).astype(bool).to_numpy()[known][present]
        result[hardship][rows[present]] = flags
    for array in result.values():
        array.setflags(write=False)
    return result
