"""Honest splits: by time with gaps that keep label windows apart, and by household.

    periods = plan_periods(frame.months, observed_until="2025-09", config=config)
    split = split_rows(frame, usable, periods, config)

Time: train on as-of months before the validation period, validate (early stopping and
calibration) on later months, test on the last months. Between periods `gap_months` as-of months
are skipped (by default the label horizon), so the label window [T, T + horizon) of the last
row of one period ends before the first as-of month of the next.

Households: siblings share most of their signals and often their outcomes, so a household is
either held out or not, never both; households linked through a child who moved are one group.
Held-out households give the calibration and test rows; the others give training rows and the
early-stopping rows (their later, validation-period months).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from training.config import TrainingConfig
from training.frame import TrainingFrame, household_components

__all__ = [
    "Period",
    "Periods",
    "Split",
    "SplitError",
    "holdout_components",
    "household_components",
    "leave_one_municipality_out",
    "plan_periods",
    "split_rows",
    "strided",
]


class SplitError(ValueError):
    """The data cannot be split as configured (too few months, or an empty part)."""


def _shift(month: str, months: int) -> str:
    return str(pd.Period(month, freq="M") + months)


def _ordinal(months: Sequence[str] | np.ndarray) -> np.ndarray:
    # Parse each distinct month once: millions of rows hold a few dozen months.
    codes, uniques = pd.factorize(np.asarray(months, dtype=str))
    ordinals = np.asarray(pd.PeriodIndex(uniques, freq="M").asi8, dtype=np.int64)
    result: np.ndarray = ordinals[codes]
    return result


@dataclass(frozen=True)
class Period:
    first: str
    last: str

    def __post_init__(self) -> None:
        if self.first > self.last:
            raise SplitError(f"empty period {self.first}..{self.last}")

    @property
    def months(self) -> tuple[str, ...]:
        span = pd.period_range(self.first, self.last, freq="M")
        return tuple(str(p) for p in span)

    def mask(self, months: np.ndarray) -> np.ndarray:
        return (months >= self.first) & (months <= self.last)

    def __str__(self) -> str:
        return f"{self.first}..{self.last}"


@dataclass(frozen=True)
class Periods:
    train: Period
    validation: Period
    test: Period
    gap_months: int
    horizon: int

    def label_windows_overlap(self) -> bool:
        """True if any label window of one period reaches an as-of month of the next."""
        pairs = ((self.train, self.validation), (self.validation, self.test))
        return any(_shift(before.last, self.horizon - 1) >= after.first for before, after in pairs)

    def as_dict(self) -> dict[str, str]:
        return {
            "train": str(self.train),
            "validation": str(self.validation),
            "test": str(self.test),
            "gap_months": str(self.gap_months),
            "horizon": str(self.horizon),
        }


def plan_periods(
    months: Sequence[str], *, observed_until: str | None, config: TrainingConfig
) -> Periods:
    """Periods counted back from the test end (default: the last month with observed labels)."""
    if not months:
        raise SplitError("the frame has no months")
    first = min(months)
    test_end = config.splits.test_end or observed_until or max(months)
    gap = config.gap_months
    test = Period(_shift(test_end, -(config.splits.test_months - 1)), test_end)
    validation_last = _shift(test.first, -(gap + 1))
    validation = Period(
        _shift(validation_last, -(config.splits.validation_months - 1)), validation_last
    )
    train_last = _shift(validation.first, -(gap + 1))
    if train_last < first:
        needed = config.splits.test_months + config.splits.validation_months + 2 * gap + 1
        raise SplitError(
            f"not enough months for the configured periods: the data runs {first}..{test_end}, "
            f"and test + validation + gaps need {needed} months before any training month"
        )
    periods = Periods(
        train=Period(first, train_last),
        validation=validation,
        test=test,
        gap_months=gap,
        horizon=config.label_horizon_months,
    )
    if periods.label_windows_overlap():
        raise SplitError(f"label windows overlap between periods: {periods.as_dict()}")
    return periods


def holdout_components(
    person_ids: np.ndarray, components: np.ndarray, fraction: float, seed: int
) -> np.ndarray:
    """Per row, whether its household group is held out.

    The draw hashes the group's smallest person_id with the seed, so a group stays on its side
    when the data grows by a month or another municipality joins.
    """
    frame = pd.DataFrame({"person": np.asarray(person_ids, dtype=str), "group": components})
    smallest = frame.groupby("group", sort=True)["person"].min()
    draws = np.array(
        [
            int.from_bytes(hashlib.sha256(f"{seed}:{p}".encode()).digest()[:8], "big") / 2.0**64
            for p in smallest.to_numpy()
        ]
    )
    held = pd.Series(draws < fraction, index=smallest.index)
    result: np.ndarray = held.reindex(components).to_numpy(dtype=bool)
    return result


@dataclass(frozen=True)
class Split:
    """Row positions of each part (into the training frame)."""

    periods: Periods
    train: np.ndarray
    early_stopping: np.ndarray
    calibration: np.ndarray
    test: np.ndarray
    components: np.ndarray
    held_out: np.ndarray

    def sizes(self) -> dict[str, int]:
        return {
            "train": len(self.train),
            "early_stopping": len(self.early_stopping),
            "calibration": len(self.calibration),
            "test": len(self.test),
        }


def strided(months: np.ndarray, period: Period, stride: int) -> np.ndarray:
    """Every `stride`-th month of the period, counted back from its last month."""
    if stride == 1:
        return period.mask(months)
    offset = _ordinal([period.last])[0] - _ordinal(months)
    return period.mask(months) & (offset % stride == 0)


def split_rows(
    frame: TrainingFrame,
    usable: np.ndarray,
    periods: Periods,
    config: TrainingConfig,
    *,
    train_usable: np.ndarray | None = None,
    components: np.ndarray | None = None,
    held_out: np.ndarray | None = None,
    months: np.ndarray | None = None,
) -> Split:
    """Rows of each part among `usable` ones (labelled and not yet supported).

    `train_usable` (default: `usable`) chooses the training and early-stopping rows, for a
    configuration that trains on already-supported children too but never evaluates on them.
    """
    if train_usable is None:
        train_usable = usable
    data = frame.data
    if months is None:
        months = data["as_of_month"].to_numpy(dtype=str)
    if components is None:
        components = household_components(
            data["person_id"].to_numpy(), data["household_id"].to_numpy()
        )
    if held_out is None:
        held_out = holdout_components(
            data["person_id"].to_numpy(),
            components,
            config.splits.holdout_fraction,
            config.splits.seed,
        )
    stride = config.splits.train_month_stride
    in_train = strided(months, periods.train, stride) & ~held_out & train_usable
    in_validation = periods.validation.mask(months)
    return Split(
        periods=periods,
        train=np.flatnonzero(in_train),
        early_stopping=np.flatnonzero(in_validation & ~held_out & train_usable),
        calibration=np.flatnonzero(in_validation & held_out & usable),
        test=np.flatnonzero(periods.test.mask(months) & held_out & usable),
        components=components,
        held_out=held_out,
    )


def leave_one_municipality_out(
    split: Split,
    months: np.ndarray,
    municipalities: np.ndarray,
    municipality: str,
    usable: np.ndarray,
) -> Split:
    """The split for a model that never sees `municipality`.

    Training, early-stopping and calibration rows are the main split's rows of the other
    municipalities; test rows are every usable test-period row of `municipality` whose household
    group has no training row (a child who moved in from a training town is left out).
    """
    other = municipalities != municipality
    train = split.train[other[split.train]]
    seen = np.zeros(int(split.components.max()) + 1, dtype=bool)
    seen[split.components[train]] = True
    candidates = np.flatnonzero(split.periods.test.mask(months) & usable & ~other)
    return Split(
        periods=split.periods,
        train=train,
        early_stopping=split.early_stopping[other[split.early_stopping]],
        calibration=split.calibration[other[split.calibration]],
        test=candidates[~seen[split.components[candidates]]],
        components=split.components,
        held_out=split.held_out,
    )
