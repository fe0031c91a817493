"""No leakage: rows known on or after the first day of T never change any feature as of T.

Hypothesis edits a realistic slice of the tiny synthetic population (a few dozen households
with every source): it removes, changes and adds rows whose known_date is on or after T —
including moving their event dates into the past, the classic leak — and moves the ends of
spells (消除日, 廃止日, 終結日 ...) that had not happened before T. The features as of T must
stay exactly the same.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Final

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features.pointintime import build_features
from features.pointintime.distributed import partition_people
from features.timeline.records import LinkedRecords

AS_OF: Final = ("2022-07", "2023-04", "2024-01", "2025-06")
# End-of-spell columns, and the days after which their source delivers an end.
ENDS: Final = {
    "public_assistance": ("ended_on", 0),
    "single_parent_allowance": ("lost_on", 31),
    "school_aid": ("cancelled_on", 31),
    "child_protection": ("closed_on", 0),
    "registry": ("removed_on", 0),
}
EDITS: Final = st.lists(
    st.tuples(
        st.sampled_from(["drop", "change", "add", "end", "residence"]),
        st.integers(min_value=0, max_value=2**31 - 1),
    ),
    min_size=1,
    max_size=4,
)


@pytest.fixture(scope="module")
def piece(tiny: LinkedRecords) -> LinkedRecords:
    """About a tenth of the population, whole households and mothers included."""
    partition = partition_people(tiny, 10)
    return tiny.about(partition.index[partition == 3])


@pytest.fixture(scope="module")
def baseline(piece: LinkedRecords) -> dict[str, pd.DataFrame]:
    return {month: build_features(piece, [month]) for month in AS_OF}


def _random_dates(rng: np.random.Generator, n: int, low: str, high: str) -> pd.Series:
    start, end = pd.Timestamp(low).value, pd.Timestamp(high).value
    values = rng.integers(start, end, n, dtype=np.int64)
    return pd.Series(pd.to_datetime(values).normalize(), dtype="datetime64[ns]")


def _scramble(
    frame: pd.DataFrame,
    rows: np.ndarray,
    rng: np.random.Generator,
    t_start: pd.Timestamp,
    people: np.ndarray,
) -> pd.DataFrame:
    """New values for `rows` in every column; known_date stays on or after T."""
    out = frame.copy()
    n = len(rows)
    if n == 0:
        return out
    for column in frame.columns:
        if column == "municipality":
            continue
        if column == "known_date":
            dates = _random_dates(rng, n, str(t_start.date()), "2027-03-31")
            out.loc[rows, column] = dates.to_numpy()
        elif column == "person_id" or column.endswith("_person_id"):
            out.loc[rows, column] = rng.choice(people, n)
        elif pd.api.types.is_datetime64_any_dtype(frame[column]):
            out.loc[rows, column] = _random_dates(rng, n, "2012-01-01", "2027-03-31").to_numpy()
        elif pd.api.types.is_float_dtype(frame[column]):
            out.loc[rows, column] = rng.integers(0, 40, n).astype(np.float64)
        else:
            pool = frame[column].dropna().unique()
            if len(pool):
                out.loc[rows, column] = rng.choice(pool, n)
    return out


def _edit(records: LinkedRecords, kind: str, seed: int, t_start: pd.Timestamp) -> LinkedRecords:
    rng = np.random.default_rng(seed)
    people = records.people["person_id"].to_numpy()
    sources = dict(records.sources)
    names = sorted(sources)
    source = names[seed % len(names)]
    frame = sources[source].reset_index(drop=True)
    future = np.flatnonzero((frame["known_date"] >= t_start).to_numpy())
    if kind == "drop":
        chosen = rng.choice(future, size=len(future) // 2, replace=False) if len(future) else []
        sources[source] = frame.drop(index=chosen).reset_index(drop=True)
    elif kind == "change":
        sources[source] = _scramble(frame, future, rng, t_start, people)
    elif kind == "add" and len(frame):
        template = frame.sample(n=min(len(frame), 5), random_state=seed).reset_index(drop=True)
        added = _scramble(template, np.arange(len(template)), rng, t_start, people)
        sources[source] = pd.concat([frame, added], ignore_index=True)
    elif kind == "end":
        source = sorted(ENDS)[seed % len(ENDS)]
        column, lag = ENDS[source]
        frame = sources.get(source, frame).reset_index(drop=True)
        if source in sources:
            end = frame[column]
            # Ends not yet delivered at T: open, or their end plus the delivery lag >= T.
            open_ = end.isna() | (end + pd.Timedelta(days=lag) >= t_start)
            rows = np.flatnonzero(open_.to_numpy())
            moved = _random_dates(rng, len(rows), str(t_start.date()), "2027-03-31").to_numpy()
            moved = moved.copy()
            moved[rng.random(len(rows)) < 0.3] = np.datetime64("NaT")
            frame.loc[rows, column] = moved
            sources[source] = frame
    elif kind == "residence":
        residence = records.residence.reset_index(drop=True)
        future = np.flatnonzero((residence["known_date"] >= t_start).to_numpy())
        residence = _scramble(residence, future, rng, t_start, people)
        until = residence["resident_until"]
        unended = np.flatnonzero((until.isna() | (until >= t_start)).to_numpy())
        later = _random_dates(rng, len(unended), str(t_start.date()), "2027-03-31").to_numpy()
        residence.loc[unended, "resident_until"] = later
        extra = residence.sample(n=3, random_state=seed).reset_index(drop=True)
        extra = _scramble(extra, np.arange(3), rng, t_start, people)
        residence = pd.concat([residence, extra], ignore_index=True)
        return replace(records, sources=sources, residence=residence)
    return replace(records, sources=sources)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(month=st.sampled_from(AS_OF), edits=EDITS)
def test_rows_known_on_or_after_t_never_change_features_as_of_t(
    piece: LinkedRecords,
    baseline: dict[str, pd.DataFrame],
    month: str,
    edits: list[tuple[str, int]],
) -> None:
    t_start = pd.Period(month, "M").to_timestamp()
    edited = piece
    for kind, seed in edits:
        edited = _edit(edited, kind, seed, t_start)
    pd.testing.assert_frame_equal(build_features(edited, [month]), baseline[month])


def test_the_property_is_not_vacuous(piece: LinkedRecords) -> None:
    """The same edits to rows known *before* T do change the features."""
    month = "2024-01"
    t_start = pd.Period(month, "M").to_timestamp()
    attendance = piece.sources["attendance"].copy()
    past = attendance["known_date"] < t_start
    attendance.loc[past, "absence_days"] = attendance.loc[past, "absence_days"] + 1
    edited = replace(piece, sources={**piece.sources, "attendance": attendance})
    before = build_features(piece, [month])
    after = build_features(edited, [month])
    assert (after["absence_days_3m"] - before["absence_days_3m"]).max() == 3
