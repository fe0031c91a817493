"""Events and spells as known at an as-of month, for a whole population per call.

`Events`: rows that happened on a date and became known on another (a consultation, a move, a
vaccination due). Counted at T only when they happened before T and were known before T; the
optional windows count those that happened in the last w months.

`Spells`: rows with a start and an optional end (生活保護, 要対協, a 就学援助 year). A spell is
active at T when its start had happened and was known before T and its end had not happened
before T. An end counts from the day it happened plus the source's delivery lag: a spell never
looks closed before its closing could have reached the municipality's extract, and a closing
that happens on or after T cannot change what T sees.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from features.timeline.months import NEVER
from features.timeline.tally import Tally

__all__ = ["Events", "Spells"]


class Events:
    """Dated rows per person code, counted as known at T, in all or in recent windows."""

    def __init__(
        self,
        codes: np.ndarray,
        event_month: np.ndarray,
        visible: np.ndarray,
        values: Mapping[str, np.ndarray] | None = None,
        *,
        windows: Iterable[int] = (),
        order: np.ndarray | None = None,
    ) -> None:
        event_month = np.asarray(event_month, dtype=np.int64)
        visible = np.asarray(visible, dtype=np.int64)
        happened = np.where(event_month >= NEVER, NEVER, event_month + 1)
        self.known = Tally.build(codes, np.maximum(visible, happened), values, order=order)
        # An event of month e lies outside the last w months at T once T >= e + w + 1.
        self.aged = {
            w: Tally.build(
                codes,
                np.maximum(visible, np.where(event_month >= NEVER, NEVER, event_month + w + 1)),
                values,
            )
            for w in windows
        }

    def count(self, codes: np.ndarray, as_of: int, *, within: int | None = None) -> np.ndarray:
        known = self.known.count(codes, as_of)
        return known if within is None else known - self.aged[within].count(codes, as_of)

    def total(
        self, codes: np.ndarray, as_of: int, column: str, *, within: int | None = None
    ) -> np.ndarray:
        known = self.known.total(codes, as_of, column)
        if within is None:
            return known
        return known - self.aged[within].total(codes, as_of, column)

    def latest(self, codes: np.ndarray, as_of: int, column: str) -> np.ndarray:
        return self.known.latest(codes, as_of, column)


class Spells:
    """Start/end rows per person code; which were active (or ever known) at T."""

    def __init__(
        self,
        codes: np.ndarray,
        start_month: np.ndarray,
        end_visible: np.ndarray,
        visible: np.ndarray,
    ) -> None:
        """`end_visible`: first as-of month at which the end is known (NEVER: still open)."""
        start_month = np.asarray(start_month, dtype=np.int64)
        begun = np.maximum(
            np.asarray(visible, dtype=np.int64),
            np.where(start_month >= NEVER, NEVER, start_month + 1),
        )
        ended = np.asarray(end_visible, dtype=np.int64)
        ended = np.where(ended >= NEVER, NEVER, np.maximum(ended, begun))
        self.begun = Tally.build(codes, begun)
        self.ended = Tally.build(codes, ended)

    def active(self, codes: np.ndarray, as_of: int) -> np.ndarray:
        return (self.begun.count(codes, as_of) - self.ended.count(codes, as_of)) > 0

    def ever(self, codes: np.ndarray, as_of: int) -> np.ndarray:
        return self.begun.count(codes, as_of) > 0
