"""Label rules: how each hardship's onsets and support are read off the extracts.

A rule returns two frames (as `Observation`):

- `events`: person_id and month (month index) of every event of the hardship; which of them
  are onsets (lookback, left censoring) is decided by the definition, not the rule.
- `support`: spells in as-of months, [start, end): the child counts as already supported
  (顕在層) at T when start <= T < end. `start` is the first as-of month at which the support
  was known, so `already_supported` never looks into the future.

Rules are registered by name; `definitions.yaml` says which hardship uses which rule.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import pandas as pd

from features.timeline.months import NEVER, month_index, school_year_start, visible_from
from features.timeline.records import LinkedRecords

__all__ = ["RULES", "Observation", "RuleContext", "rule"]


@dataclass(frozen=True)
class RuleContext:
    """What a rule may need besides the records: the end of the observed history."""

    observed_until: int
    end_lag_days: Mapping[str, int]


@dataclass(frozen=True)
class Observation:
    events: pd.DataFrame
    support: pd.DataFrame


Rule = Callable[[LinkedRecords, Mapping[str, Any], RuleContext], Observation]
RULES: Final[dict[str, Rule]] = {}


def rule(name: str) -> Callable[[Rule], Rule]:
    def register(function: Rule) -> Rule:
        RULES[name] = function
        return function

    return register


def _events(person_id: pd.Series, month: np.ndarray) -> pd.DataFrame:
    frame = pd.DataFrame(
        {"person_id": person_id.astype("str").to_numpy(), "month": np.asarray(month, np.int64)}
    )
    return frame[frame["month"] < NEVER]


def _support(person_id: pd.Series, start: np.ndarray, end: np.ndarray) -> pd.DataFrame:
    start = np.asarray(start, dtype=np.int64)
    end = np.asarray(end, dtype=np.int64)
    end = np.where(end >= NEVER, NEVER, np.maximum(end, start))
    frame = pd.DataFrame(
        {"person_id": person_id.astype("str").to_numpy(), "start": start, "end": end}
    )
    return frame[frame["start"] < frame["end"]]


def _after(month: np.ndarray) -> np.ndarray:
    """The first as-of month after an event month (the event lies before its first day)."""
    return np.where(month >= NEVER, NEVER, month + 1)


def _known_spells(
    frame: pd.DataFrame, start: str, end: str, source: str, context: RuleContext
) -> pd.DataFrame:
    begun = np.maximum(visible_from(frame["known_date"]), _after(month_index(frame[start])))
    ended = visible_from(frame[end], lag_days=context.end_lag_days.get(source, 0))
    return _support(frame["person_id"], begun, ended)


@rule("abuse_case")
def abuse_case(
    records: LinkedRecords, params: Mapping[str, Any], context: RuleContext
) -> Observation:
    consultations = records.source("consultation", ("received_on", "outcome"))
    substantiated = consultations[consultations["outcome"] == "abuse_substantiated"]
    registrations = records.source(
        "child_protection", ("registered_on", "main_reason", "closed_on")
    )
    for_abuse = registrations[registrations["main_reason"] == "abuse"]
    events = pd.concat(
        [
            _events(substantiated["person_id"], month_index(substantiated["received_on"])),
            _events(for_abuse["person_id"], month_index(for_abuse["registered_on"])),
        ],
        ignore_index=True,
    )
    support = _known_spells(
        registrations, "registered_on", "closed_on", "child_protection", context
    )
    return Observation(events, support)


def _school_year_end(frame: pd.DataFrame, certified: np.ndarray) -> np.ndarray:
    """The April after each certification's school year (as a month index)."""
    year = frame["school_year"].to_numpy(dtype=np.float64)
    fallback = school_year_start(np.minimum(certified, NEVER)) + 12
    return np.where(np.isnan(year), fallback, (np.nan_to_num(year) - 1970) * 12 + 15).astype(
        np.int64
    )


def _spell_months(person_id: pd.Series, first: np.ndarray, end: np.ndarray) -> pd.DataFrame:
    """One event per month of each [first, end) spell (at least its first month)."""
    first = np.asarray(first, dtype=np.int64)
    ok = first < NEVER
    first = first[ok]
    end = np.maximum(np.asarray(end, dtype=np.int64)[ok], first + 1)
    lengths = end - first
    people = np.repeat(person_id.astype("str").to_numpy()[ok], lengths)
    offsets = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return pd.DataFrame({"person_id": people, "month": np.repeat(first, lengths) + offsets})


@rule("programme_entry")
def programme_entry(
    records: LinkedRecords, params: Mapping[str, Any], context: RuleContext
) -> Observation:
    """Months in 生活保護 or 就学援助; the definition's 12-month lookback makes entries onsets."""
    open_end = context.observed_until + 1
    assistance = records.source("public_assistance", ("started_on", "ended_on"))
    started = month_index(assistance["started_on"])
    ended = month_index(assistance["ended_on"])
    aid = records.source("school_aid", ("certified_on", "cancelled_on", "school_year"))
    certified = month_index(aid["certified_on"])
    year_end = _school_year_end(aid, certified)
    cancelled = month_index(aid["cancelled_on"])
    events = pd.concat(
        [
            _spell_months(assistance["person_id"], started, np.minimum(ended, open_end)),
            _spell_months(
                aid["person_id"], certified, np.minimum(np.minimum(cancelled, year_end), open_end)
            ),
        ],
        ignore_index=True,
    )
    aid_end = visible_from(aid["cancelled_on"], lag_days=context.end_lag_days.get("school_aid", 0))
    support = pd.concat(
        [
            _known_spells(assistance, "started_on", "ended_on", "public_assistance", context),
            _support(
                aid["person_id"],
                np.maximum(visible_from(aid["known_date"]), _after(certified)),
                np.minimum(aid_end, year_end),
            ),
        ],
        ignore_index=True,
    )
    return Observation(events, support)


@rule("school_year_absence")
def school_year_absence(
    records: LinkedRecords, params: Mapping[str, Any], context: RuleContext
) -> Observation:
    threshold = float(params.get("threshold_days", 30))
    rows = records.source(
        "attendance", ("target_month", "absence_days", "illness_absence_days", "known_date")
    )
    month = month_index(rows["target_month"])
    # 病気欠席 left empty cannot be told apart: the whole absence counts.
    nonillness = rows["absence_days"].to_numpy(np.float64) - np.nan_to_num(
        rows["illness_absence_days"].to_numpy(np.float64)
    )
    frame = pd.DataFrame(
        {
            "person_id": rows["person_id"].astype("str").to_numpy(),
            "month": month,
            "year": school_year_start(np.minimum(month, NEVER)),
            "days": np.nan_to_num(nonillness),
            "visible": np.maximum(visible_from(rows["known_date"]), _after(month)),
            "known": rows["known_date"].to_numpy(dtype="datetime64[ns]"),
        }
    )
    frame = frame[frame["month"] < NEVER]
    # A later report of the same month replaces the earlier one.
    frame = frame.sort_values(["person_id", "month", "known"]).drop_duplicates(
        ["person_id", "month"], keep="last"
    )
    by_month = frame.sort_values(["person_id", "year", "month"])
    total = by_month.groupby(["person_id", "year"])["days"].cumsum()
    crossed = by_month[total >= threshold].drop_duplicates(["person_id", "year"])
    events = _events(crossed["person_id"], crossed["month"].to_numpy())
    # Support: when the reports visible at T already add up to the threshold this year.
    by_visible = frame.sort_values(["person_id", "year", "visible", "month"])
    seen = by_visible.groupby(["person_id", "year"])["days"].cumsum()
    known = by_visible[seen >= threshold].drop_duplicates(["person_id", "year"])
    support = _support(
        known["person_id"], known["visible"].to_numpy(), known["year"].to_numpy() + 12
    )
    return Observation(events, support)


@rule("postnatal_epds")
def postnatal_epds(
    records: LinkedRecords, params: Mapping[str, Any], context: RuleContext
) -> Observation:
    cutoff = float(params.get("cutoff", 9))
    within = pd.Timedelta(days=int(params.get("within_days", 365)))
    births = records.source("birth", ("birth_date", "mother_person_id"))
    links = pd.DataFrame(
        {
            "person_id": births["person_id"].astype("str").to_numpy(),
            "mother": births["mother_person_id"].astype("str").to_numpy(),
            "birth_date": births["birth_date"].to_numpy(dtype="datetime64[ns]"),
            "link_visible": visible_from(births["known_date"]),
        }
    ).dropna()
    screenings = records.source("epds", ("screened_on", "epds_score"))
    positive = screenings[screenings["epds_score"] >= cutoff]
    scores = pd.DataFrame(
        {
            "mother": positive["person_id"].astype("str").to_numpy(),
            "screened_on": positive["screened_on"].to_numpy(dtype="datetime64[ns]"),
            "screen_visible": visible_from(positive["known_date"]),
        }
    )
    pairs = links.merge(scores, on="mother")
    after = pairs["screened_on"] - pairs["birth_date"]
    pairs = pairs[(after >= pd.Timedelta(0)) & (after < within)]
    screened = month_index(pairs["screened_on"])
    events = _events(pairs["person_id"], screened)
    start = np.maximum.reduce(
        [pairs["link_visible"].to_numpy(), pairs["screen_visible"].to_numpy(), _after(screened)]
    )
    support = _support(pairs["person_id"], start, np.full(len(pairs), NEVER))
    return Observation(events, support)


@rule("young_carer_identification")
def young_carer_identification(
    records: LinkedRecords, params: Mapping[str, Any], context: RuleContext
) -> Observation:
    """Onset when caring began (開始時期, else 把握日), or at identification (`onset: identified`).

    The start of caring is recorded only at identification, often months later, so the
    back-dated label is right-censored: a child who began caring in (T, T+H] but is identified
    after the extracts end reads as 0 (the rate falls towards 0 in the latest months), and a
    child already caring but not yet identified at T is a negative. The identification month
    is what the municipality learns, and when: complete once T+H is observed, and a latent
    carer at T is a positive, but no longer the onset the synthetic ground truth counts.
    """
    rows = records.source("young_carer", ("identified_on", "started_month"))
    identified = month_index(rows["identified_on"])
    onset = str(params.get("onset", "started"))
    if onset == "started":
        started = month_index(rows["started_month"])
        events = _events(rows["person_id"], np.where(started < NEVER, started, identified))
    elif onset == "identified":
        events = _events(rows["person_id"], identified)
    else:
        raise ValueError(
            f"young_carer_identification: onset must be identified or started, not {onset!r}"
        )
    start = np.maximum(visible_from(rows["known_date"]), _after(identified))
    support = _support(rows["person_id"], start, np.full(len(rows), NEVER))
    return Observation(events, support)
