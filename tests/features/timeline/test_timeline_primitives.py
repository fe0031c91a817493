"""Tallies, events, spells and monthly panels agree with a row-by-row reading of the definition."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from features.timeline.events import Events, Spells
from features.timeline.months import (
    NEVER,
    as_periods,
    month_index,
    school_year_start,
    visible_from,
)
from features.timeline.panel import MonthlyPanel
from features.timeline.tally import PersonCodes, Tally

MONTHS = st.integers(min_value=600, max_value=640)
ROWS = st.lists(
    st.tuples(st.integers(0, 4), MONTHS, MONTHS, st.integers(0, 9)), min_size=0, max_size=40
)


def test_month_index_and_visibility() -> None:
    dates = pd.to_datetime(pd.Series(["2024-04-01", "2024-04-30", None]))
    assert list(month_index(dates)) == [pd.Period("2024-04", "M").ordinal] * 2 + [NEVER]
    # Known on 30 April: usable from the as-of month May (its first day is after the 30th).
    assert list(visible_from(dates)) == [pd.Period("2024-05", "M").ordinal] * 2 + [NEVER]
    lagged = visible_from(pd.to_datetime(pd.Series(["2024-04-01"])), lag_days=31)
    assert lagged[0] == pd.Period("2024-06", "M").ordinal


def test_school_year_starts_in_april() -> None:
    months = [pd.Period(m, "M").ordinal for m in ("2024-03", "2024-04", "2024-12", "2025-03")]
    april = [pd.Period(m, "M").ordinal for m in ("2023-04", "2024-04", "2024-04", "2024-04")]
    assert list(school_year_start(np.array(months))) == april


def test_as_periods_sorts_and_dedupes() -> None:
    assert [str(p) for p in as_periods(["2024-05", pd.Period("2024-04", "M"), "2024-05"])] == [
        "2024-04",
        "2024-05",
    ]


def test_person_codes_are_dense_and_unknown_is_minus_one() -> None:
    codes = PersonCodes(pd.Index(["b", "a", "b", None]))
    assert list(codes.ids) == ["a", "b"]
    assert list(codes.encode(pd.Series(["b", "zz", None]))) == [1, -1, -1]


@settings(max_examples=60, deadline=None)
@given(rows=ROWS, as_of=MONTHS, window=st.integers(1, 14))
def test_events_count_what_happened_and_was_known_before_t(
    rows: list[tuple[int, int, int, int]], as_of: int, window: int
) -> None:
    codes = np.array([r[0] for r in rows], dtype=np.int64)
    event = np.array([r[1] for r in rows], dtype=np.int64)
    visible = np.array([r[2] for r in rows], dtype=np.int64)
    value = np.array([r[3] for r in rows], dtype=np.float64)
    events = Events(codes, event, visible, {"v": value}, windows=(window,))
    people = np.arange(5)
    for person in people:
        seen = [r for r in rows if r[0] == person and r[2] <= as_of and r[1] < as_of]
        recent = [r for r in seen if r[1] >= as_of - window]
        assert events.count(np.array([person]), as_of)[0] == len(seen)
        assert events.count(np.array([person]), as_of, within=window)[0] == len(recent)
        assert events.total(np.array([person]), as_of, "v")[0] == sum(r[3] for r in seen)


@settings(max_examples=60, deadline=None)
@given(rows=ROWS, as_of=MONTHS)
def test_tally_latest_is_the_last_row_filed_by_t(
    rows: list[tuple[int, int, int, int]], as_of: int
) -> None:
    codes = np.array([r[0] for r in rows], dtype=np.int64)
    filed = np.array([r[1] for r in rows], dtype=np.int64)
    value = np.array([r[3] for r in rows], dtype=np.float64)
    order = np.arange(len(rows))
    tally = Tally.build(codes, filed, {"v": value, "top": value}, order=order, running_max=("top",))
    for person in range(5):
        mine = sorted(
            (r[1], i, r[3]) for i, r in enumerate(rows) if r[0] == person and r[1] <= as_of
        )
        latest = tally.latest(np.array([person]), as_of, "v")[0]
        top = tally.latest(np.array([person]), as_of, "top")[0]
        if mine:
            assert latest == mine[-1][2]
            assert top == max(v for _, _, v in mine)
        else:
            assert np.isnan(latest) and np.isnan(top)


@settings(max_examples=60, deadline=None)
@given(
    spells=st.lists(
        st.tuples(st.integers(0, 3), MONTHS, st.one_of(st.none(), MONTHS), MONTHS), max_size=20
    ),
    as_of=MONTHS,
)
def test_spells_active_when_begun_known_and_not_yet_ended(
    spells: list[tuple[int, int, int | None, int]], as_of: int
) -> None:
    codes = np.array([s[0] for s in spells], dtype=np.int64)
    start = np.array([s[1] for s in spells], dtype=np.int64)
    end = np.array([NEVER if s[2] is None else s[2] for s in spells], dtype=np.int64)
    visible = np.array([s[3] for s in spells], dtype=np.int64)
    table = Spells(codes, start, end, visible)
    for person in range(4):
        expected = any(
            p == person and v <= as_of and s < as_of and (e is None or max(e, v, s + 1) > as_of)
            for p, s, e, v in spells
        )
        assert table.active(np.array([person]), as_of)[0] == expected


@settings(max_examples=60, deadline=None)
@given(
    reports=st.lists(
        st.tuples(st.integers(0, 3), MONTHS, st.integers(0, 6), st.integers(0, 20)), max_size=40
    ),
    as_of=MONTHS,
)
def test_panel_shows_the_latest_version_visible_at_t(
    reports: list[tuple[int, int, int, int]], as_of: int
) -> None:
    codes = np.array([r[0] for r in reports], dtype=np.int64)
    month = np.array([r[1] for r in reports], dtype=np.int64)
    visible = month + 1 + np.array([r[2] for r in reports], dtype=np.int64)
    value = np.array([r[3] for r in reports], dtype=np.float64)
    panel = MonthlyPanel(codes, month, visible, {"v": value})
    width = 8
    people = np.arange(4)
    view = panel.view(people, as_of, width)
    shown = view.grids["v"]
    for person in people:
        for j in range(width):
            cell = as_of - width + j
            versions = sorted(
                (month[i] + 1 + r[2], i)
                for i, r in enumerate(reports)
                if r[0] == person and r[1] == cell and month[i] + 1 + r[2] <= as_of
            )
            assert view.visible[person, j] == bool(versions)
            if versions:
                # Ties in visibility: the panel keeps input order, as the sort above does.
                assert shown[person, j] == reports[versions[-1][1]][3]
