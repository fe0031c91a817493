"""Monthly reports (attendance, arrears) as a dense person x month panel, read as known at T.

A monthly source has at most one current report per person and event month, but a report can
be corrected later. The panel keeps each cell's first report densely and any later versions
(corrections) in a short side list, so that the value seen at T is the latest version already
visible at T: a correction delivered on or after T cannot change what T sees.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from features.timeline.months import NEVER

__all__ = ["MonthlyPanel", "PanelView"]


@dataclass(frozen=True)
class PanelView:
    """The panel as known at one as-of month T, over event months [T - width, T - 1].

    `visible[i, j]` says whether person row i had a report for month T - width + j; `grids`
    holds each column (0 where not visible, NaN where reported empty).
    `rows` gives the panel row of each asked person (-1: none).
    """

    visible: np.ndarray
    grids: Mapping[str, np.ndarray]
    rows: np.ndarray


class MonthlyPanel:
    """Reports per (person code, event month) with the month each version became visible."""

    def __init__(
        self,
        codes: np.ndarray,
        event_month: np.ndarray,
        visible_from: np.ndarray,
        values: Mapping[str, np.ndarray],
    ) -> None:
        codes = np.asarray(codes, dtype=np.int64)
        event_month = np.asarray(event_month, dtype=np.int64)
        visible_from = np.asarray(visible_from, dtype=np.int64)
        keep = (codes >= 0) & (event_month < NEVER)
        codes, event_month, visible_from = codes[keep], event_month[keep], visible_from[keep]
        columns = {name: np.asarray(v, dtype=np.float64)[keep] for name, v in values.items()}
        self.columns: tuple[str, ...] = tuple(columns)
        self.persons = np.unique(codes)
        self.first_month = int(event_month.min()) if len(event_month) else 0
        width = int(event_month.max()) - self.first_month + 1 if len(event_month) else 1
        row = np.searchsorted(self.persons, codes)
        col = event_month - self.first_month
        # Versions of one cell in the order they became visible; the first is stored densely.
        order = np.lexsort((visible_from, col, row))
        row, col, visible_from = row[order], col[order], visible_from[order]
        columns = {name: v[order] for name, v in columns.items()}
        first = np.ones(len(row), dtype=bool)
        first[1:] = (row[1:] != row[:-1]) | (col[1:] != col[:-1])
        self.visible_from = np.full((len(self.persons), width), NEVER, dtype=np.int64)
        self.visible_from[row[first], col[first]] = visible_from[first]
        self.values = {}
        # Empty cells (NaN) stay NaN: "not recorded" must not turn into zero.
        for name, column in columns.items():
            grid = np.full((len(self.persons), width), np.nan, dtype=np.float64)
            grid[row[first], col[first]] = column[first]
            self.values[name] = grid
        # Later versions (corrections) replace the cell's value once they are visible.
        later = ~first
        self.correction_row = row[later]
        self.correction_col = col[later]
        self.correction_visible = visible_from[later]
        self.correction_values = {name: column[later] for name, column in columns.items()}

    def rows_of(self, codes: np.ndarray) -> np.ndarray:
        """Panel row of each person code, -1 for people without reports."""
        codes = np.asarray(codes, dtype=np.int64)
        if not len(self.persons):
            return np.full(len(codes), -1, dtype=np.int64)
        position = np.clip(np.searchsorted(self.persons, codes), 0, len(self.persons) - 1)
        return np.where(self.persons[position] == codes, position, -1)

    def view(self, codes: np.ndarray, as_of: int, width: int) -> PanelView:
        """Reports of the given people (unique codes) for event months [T - width, T - 1], known
        at T = `as_of`."""
        rows = self.rows_of(codes)
        found = np.flatnonzero(rows >= 0)
        start = as_of - width - self.first_month
        # The part of the window that lies inside the panel, and where it goes in the window.
        lo, hi = max(start, 0), min(start + width, self.visible_from.shape[1])
        visible = np.zeros((len(rows), width), dtype=bool)
        values = {name: np.zeros((len(rows), width)) for name in self.columns}
        if hi > lo and len(found):
            panel_rows = rows[found]
            seen = self.visible_from[panel_rows, lo:hi] <= as_of
            visible[found, lo - start : hi - start] = seen
            for name in self.columns:
                block = np.where(seen, self.values[name][panel_rows, lo:hi], 0.0)
                values[name][found, lo - start : hi - start] = block
            self._apply_corrections(rows, as_of, start, width, values)
        return PanelView(visible=visible, grids=values, rows=rows)

    def _apply_corrections(
        self,
        rows: np.ndarray,
        as_of: int,
        start: int,
        width: int,
        values: dict[str, np.ndarray],
    ) -> None:
        if not len(self.correction_row):
            return
        window = self.correction_col - start
        usable = (self.correction_visible <= as_of) & (window >= 0) & (window < width)
        if not usable.any():
            return
        lookup = np.full(len(self.persons), -1, dtype=np.int64)
        asked = rows >= 0
        lookup[rows[asked]] = np.nonzero(asked)[0]
        index = np.nonzero(usable)[0]
        target = lookup[self.correction_row[index]]
        col = window[index]
        ok = target >= 0
        index, target, col = index[ok], target[ok], col[ok]
        # Corrections are sorted by cell, then by when they became visible: keep each cell's last.
        last = np.ones(len(index), dtype=bool)
        last[:-1] = (target[1:] != target[:-1]) | (col[1:] != col[:-1])
        index, target, col = index[last], target[last], col[last]
        for name in self.columns:
            values[name][target, col] = self.correction_values[name][index]
