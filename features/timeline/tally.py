"""Counting what was known by an as-of month, for many people at once, without per-row Python.

A `Tally` holds rows keyed by (person, month) in sorted order with prefix sums of their values.
"How many rows of person p, and what total, had month <= T?" is then two binary searches and a
subtraction, for a whole population in one vectorised call.

Which month a row is filed under decides what the question means. Filed under the month it
became visible (`visible_from`), the answer is "known before the first day of T". Filed under
max(visible, event month + c), it is "known before T *and* happened in month T - c or earlier",
so the difference of two tallies is a window of event months as known at T, exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd

from features.timeline.months import NEVER

__all__ = ["PersonCodes", "Tally"]

# Keys are person_code * _STRIDE + (month + _OFFSET): months from 1670 to NEVER fit in one stride.
_OFFSET: Final = 12 * 300
_STRIDE: Final = 1 << 21
_LAST: Final = _STRIDE - 1
assert NEVER + _OFFSET < _LAST


class PersonCodes:
    """Dense integer codes (0..n-1) for person ids, in sorted id order."""

    def __init__(self, person_ids: pd.Index) -> None:
        self.ids = pd.Index(pd.unique(person_ids.dropna().astype("str"))).sort_values()

    def __len__(self) -> int:
        return len(self.ids)

    def encode(self, values: pd.Series | pd.Index | np.ndarray) -> np.ndarray:
        """Codes of the given ids; -1 for ids that are missing or unknown."""
        return np.asarray(self.ids.get_indexer(pd.Index(values, dtype="str")), dtype=np.int64)


def _keys(codes: np.ndarray, months: np.ndarray) -> np.ndarray:
    clipped = np.clip(np.asarray(months, dtype=np.int64) + _OFFSET, 0, _LAST)
    return np.asarray(codes, dtype=np.int64) * _STRIDE + clipped


@dataclass(frozen=True)
class Tally:
    """Rows of many people filed under a month each; sums and latest values up to any month."""

    keys: np.ndarray
    values: Mapping[str, np.ndarray]
    prefix: Mapping[str, np.ndarray]
    # Position of each person code's first row (codes 0..max), so a query needs one search.
    starts: np.ndarray

    @classmethod
    def build(
        cls,
        codes: np.ndarray,
        months: np.ndarray,
        values: Mapping[str, np.ndarray] | None = None,
        *,
        order: np.ndarray | None = None,
        running_max: tuple[str, ...] = (),
    ) -> Tally:
        """File each row under its month. `order` breaks ties (later sorts last).

        Columns named in `running_max` hold, per row, the largest value of that person's rows
        up to it, so `latest` answers "the highest so far" for them.
        """
        codes = np.asarray(codes, dtype=np.int64)
        keep = codes >= 0
        keys = _keys(codes[keep], np.asarray(months)[keep])
        tie = np.zeros(len(keys)) if order is None else np.asarray(order, dtype=float)[keep]
        sort = np.lexsort((tie, keys))
        sorted_values = {
            name: np.asarray(column, dtype=np.float64)[keep][sort]
            for name, column in (values or {}).items()
        }
        keys = keys[sort]
        for name in running_max:
            person = keys // _STRIDE
            sorted_values[name] = (
                pd.Series(sorted_values[name]).groupby(person).cummax().to_numpy(np.float64)
            )
        prefix = {
            name: np.concatenate([[0.0], np.nancumsum(column)])
            for name, column in sorted_values.items()
        }
        top = int(keys[-1] // _STRIDE) + 2 if len(keys) else 1
        starts = np.searchsorted(keys, np.arange(top, dtype=np.int64) * _STRIDE, side="left")
        return cls(keys=keys, values=sorted_values, prefix=prefix, starts=starts)

    def __len__(self) -> int:
        return len(self.keys)

    def bounds(self, codes: np.ndarray, month: int | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """[lo, hi): the sorted positions of each person's rows filed at or before `month`."""
        codes = np.asarray(codes, dtype=np.int64)
        lo = self.starts[np.minimum(codes, len(self.starts) - 1)]
        hi = np.searchsorted(self.keys, _keys(codes, np.broadcast_to(month, codes.shape)), "right")
        return lo, np.maximum(hi, lo)

    def count(self, codes: np.ndarray, month: int | np.ndarray) -> np.ndarray:
        lo, hi = self.bounds(codes, month)
        return (hi - lo).astype(np.float64)

    def total(self, codes: np.ndarray, month: int | np.ndarray, column: str) -> np.ndarray:
        """Sum of `column` over the rows filed at or before `month` (empty cells count 0)."""
        lo, hi = self.bounds(codes, month)
        prefix = self.prefix[column]
        return prefix[hi] - prefix[lo]

    def latest(
        self, codes: np.ndarray, month: int | np.ndarray, column: str, *, back: int = 0
    ) -> np.ndarray:
        """`column` of the last row filed at or before `month` (`back` rows earlier); else NaN."""
        lo, hi = self.bounds(codes, month)
        position = hi - 1 - back
        found = position >= lo
        out = np.full(len(lo), np.nan)
        out[found] = self.values[column][position[found]]
        return out
