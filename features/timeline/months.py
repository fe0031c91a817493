"""Month arithmetic on integer month indices (months since January 1970, as `pd.Period.ordinal`).

Every as-of instant in the feature store is the first day of a month T. A row known on day d is
visible from as-of month `month_of(d) + 1` on: d < first day of T  <=>  month_of(d) <= T - 1.
Working on integers keeps every comparison vectorised and exact.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

import numpy as np
import pandas as pd

__all__ = [
    "NEVER",
    "as_periods",
    "month_index",
    "month_label",
    "school_year_start",
    "visible_from",
]

# A month index later than any real one: "not (yet) happened" for spell ends and the like.
NEVER: Final = 1_000_000


def as_periods(months: Iterable[str | pd.Period]) -> list[pd.Period]:
    """Monthly periods from 'YYYY-MM' strings or periods, sorted and without duplicates."""
    periods = {pd.Period(m, freq="M") for m in months}
    return sorted(periods)


def month_label(index: np.ndarray) -> np.ndarray:
    """'YYYY-MM' text for month indices."""
    return np.asarray(index, dtype=np.int64).astype("datetime64[M]").astype(str)


def month_index(values: pd.Series | np.ndarray, *, missing: int = NEVER) -> np.ndarray:
    """Month index of each date (datetime64); missing dates become `missing`."""
    array = np.asarray(values, dtype="datetime64[ns]")
    out = array.astype("datetime64[M]").astype(np.int64)
    return np.where(np.isnat(array), missing, out)


def visible_from(known: pd.Series | np.ndarray, *, lag_days: int = 0) -> np.ndarray:
    """First as-of month at which a row known on `known` (+ lag) may be used."""
    array = np.asarray(known, dtype="datetime64[ns]")
    if lag_days:
        array = array + np.timedelta64(lag_days, "D")
    return month_index(array) + np.where(np.isnat(array), 0, 1)


def school_year_start(index: np.ndarray | int) -> np.ndarray:
    """Month index of the April that opens the Japanese school year containing each month."""
    months = np.asarray(index, dtype=np.int64)
    calendar_month = months % 12  # 0 = January
    return months - (calendar_month - 3) % 12
