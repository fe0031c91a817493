"""What every feature group is built from, and the small helpers they share.

A group is prepared once per build (sorting its source rows into tallies and panels) and then
asked for its columns at each as-of month; `at` sees only what was known before that month.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd

from features.timeline.months import month_index, visible_from
from features.timeline.population import AsOf, Population
from features.timeline.records import LinkedRecords

__all__ = [
    "FeatureGroup",
    "Inputs",
    "household_total",
    "siblings_mean",
    "siblings_total",
]


@dataclass(frozen=True)
class Inputs:
    records: LinkedRecords
    population: Population
    end_lag_days: Mapping[str, int]

    def rows(self, source: str, *columns: str) -> pd.DataFrame:
        return self.records.source(source, columns)

    def codes(self, frame: pd.DataFrame, column: str = "person_id") -> np.ndarray:
        return self.population.codes.encode(frame[column])

    @staticmethod
    def visible(frame: pd.DataFrame) -> np.ndarray:
        return visible_from(frame["known_date"])

    @staticmethod
    def month(frame: pd.DataFrame, column: str) -> np.ndarray:
        return month_index(frame[column])

    def end_visible(self, frame: pd.DataFrame, column: str, source: str) -> np.ndarray:
        """First as-of month at which the end date in `column` could be known (NEVER if open)."""
        return visible_from(frame[column], lag_days=self.end_lag_days.get(source, 0))

    @property
    def n_households(self) -> int:
        return len(self.population.residence.households)


class FeatureGroup(ABC):
    """Computes some feature columns for the population at any as-of month."""

    # Columns holding text (codes such as the municipality) rather than numbers.
    text_columns: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, inputs: Inputs) -> None:
        self.inputs = inputs

    @abstractmethod
    def at(self, as_of: AsOf) -> dict[str, np.ndarray]:
        """Columns for `as_of.person`, in that order, from what was known before the month."""


def household_total(as_of: AsOf, per_resident: np.ndarray, n_households: int) -> np.ndarray:
    """For each child, the sum of `per_resident` over the other residents of its household."""
    values = np.asarray(per_resident, dtype=np.float64)
    totals = np.bincount(as_of.residents.household, weights=values, minlength=n_households)
    return totals[as_of.household] - values[as_of.resident_row]


def siblings_total(as_of: AsOf, per_resident: np.ndarray, n_households: int) -> np.ndarray:
    """For each child, the sum of `per_resident` over the household's other children."""
    return household_total(as_of, np.where(as_of.resident_child, per_resident, 0.0), n_households)


def siblings_mean(as_of: AsOf, per_resident: np.ndarray, n_households: int) -> np.ndarray:
    """For each child, the mean of `per_resident` over the household's other children that
    have a value (NaN is no value); NaN when none has one."""
    values = np.asarray(per_resident, dtype=np.float64)
    known = as_of.resident_child & ~np.isnan(values)
    totals = household_total(as_of, np.where(known, values, 0.0), n_households)
    counts = household_total(as_of, known.astype(np.float64), n_households)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, totals / np.maximum(counts, 1), np.nan)
