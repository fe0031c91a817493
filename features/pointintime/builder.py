"""`build_features`: one row per child and as-of month, every column from what was known before it.

    frame = build_features(records, ["2024-04", "2024-05"])
    school_only = build_features(records, months, purposes={"school"})

The builder walks the as-of months in order; at each month T every feature group answers for
the whole population at once from its pre-sorted rows (tallies, panels), reading only rows
whose known_date is before the first day of T. Columns come from the feature catalogue:
a group that returns a column the catalogue does not list is an error, so the catalogue and
the frame cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from features.catalogue import FeatureCatalogue, FeatureSpec, load_feature_catalogue
from features.pointintime.groups import GROUPS, INDICATOR_GROUP
from features.pointintime.inputs import FeatureGroup, Inputs
from features.timeline.population import AsOf, Population
from features.timeline.records import LinkedRecords

__all__ = ["KEY_COLUMNS", "FeatureBuildError", "build_features"]

KEY_COLUMNS = ("person_id", "as_of_month")
# The registry is where the population comes from: a resident child's town always holds it.
_ALWAYS_HELD = "registry"


class FeatureBuildError(RuntimeError):
    """A feature group and the feature catalogue disagree."""


def build_features(
    records: LinkedRecords,
    months: Sequence[str | pd.Period],
    *,
    purposes: Iterable[str] | None = None,
    catalogue: FeatureCatalogue | None = None,
) -> pd.DataFrame:
    """Features of every child resident at the start of each month in `months`.

    Rows are ordered by as-of month, then person_id; `as_of_month` is 'YYYY-MM'. `purposes`
    restricts the build to sources with those purpose tags (two-stage screening: `{"school"}`
    first); the child-master columns (age, stage, municipality) are always present. Values from
    data the child's municipality does not hold are NaN and flagged in `missing_<holding>`.
    """
    catalogue = catalogue or load_feature_catalogue()
    allowed = None if purposes is None else frozenset(purposes)
    selected = catalogue.selected(allowed)
    if allowed is not None:
        # A screened build does not even read the other sources.
        records = records.only_sources(catalogue.sources_for(allowed))
    population = Population(records, months)
    inputs = Inputs(records, population, catalogue.end_lag_days)
    groups = {
        name: GROUPS[name](inputs)
        for name in dict.fromkeys(f.group for f in selected if f.group != INDICATOR_GROUP)
    }
    held = _held(records, population, selected)
    text = {name for group in groups.values() for name in group.text_columns}
    columns = _Columns(population.size, [f.name for f in selected], text)
    offset = 0
    for as_of in population.as_of:
        values = _group_values(groups, as_of, catalogue)
        held_here = {unit: mask[as_of.municipality] for unit, mask in held.items()}
        for spec in selected:
            columns.put(spec.name, offset, _masked(spec, values, held_here))
        offset += len(as_of)
    return columns.frame(population.keys())


def _group_values(
    groups: dict[str, FeatureGroup], as_of: AsOf, catalogue: FeatureCatalogue
) -> dict[str, np.ndarray]:
    known = set(catalogue.names)
    values: dict[str, np.ndarray] = {}
    for name, group in groups.items():
        produced = group.at(as_of)
        unknown = set(produced) - known
        if unknown:
            raise FeatureBuildError(
                f"group {name!r} emits {sorted(unknown)}, which the feature catalogue lacks"
            )
        values.update(produced)
    return values


def _held(
    records: LinkedRecords, population: Population, selected: Sequence[FeatureSpec]
) -> dict[str, np.ndarray]:
    """Per holding unit, whether each municipality (by code) holds it."""
    municipalities = population.residence.municipalities
    units = {unit for f in selected for unit in (f.holding, *f.requires)} - {_ALWAYS_HELD}
    return {
        unit: np.array([records.holds(str(m), unit) for m in municipalities], dtype=bool)
        for unit in units
    }


def _masked(
    spec: FeatureSpec, values: dict[str, np.ndarray], held: dict[str, np.ndarray]
) -> np.ndarray:
    if spec.indicator:
        return (~held[spec.holding]).astype(np.float64)
    if spec.name not in values:
        raise FeatureBuildError(f"group {spec.group!r} does not emit {spec.name!r}")
    value = values[spec.name]
    if spec.always:
        return value
    units = [u for u in (spec.holding, *spec.requires) if u != _ALWAYS_HELD]
    if not units:
        return value
    available = np.logical_and.reduce([held[u] for u in units])
    return np.where(available, value, np.nan)


class _Columns:
    """Output columns, allocated once: one float32 block for the numbers, text apart.

    The block is column-major so that the frame can wrap it without a copy: at 100,000
    children x 48 months it is over a gigabyte.
    """

    def __init__(self, size: int, names: Sequence[str], text: set[str]) -> None:
        self.names = list(names)
        self.numeric = [n for n in self.names if n not in text]
        self.position = {name: i for i, name in enumerate(self.numeric)}
        self.block = np.full((size, len(self.numeric)), np.nan, dtype=np.float32, order="F")
        self.text = {n: np.full(size, None, dtype=object) for n in self.names if n in text}

    def put(self, name: str, offset: int, value: np.ndarray) -> None:
        target = self.text.get(name)
        if target is None:
            target = self.block[:, self.position[name]]
        target[offset : offset + len(value)] = value

    def frame(self, keys: pd.DataFrame) -> pd.DataFrame:
        frame = pd.DataFrame(self.block, columns=self.numeric, copy=False)
        for position, name in enumerate(keys.columns):
            frame.insert(position, name, keys[name])
        for name, values in self.text.items():
            frame.insert(
                len(keys.columns) + self.names.index(name), name, pd.Series(values, dtype="str")
            )
        return frame
