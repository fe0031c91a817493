"""Data a municipality does not hold is missing and flagged, never a silent zero."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.ingest.catalogue import load_catalogue
from features.pointintime import build_features
from features.timeline.records import OPTIONAL_ELEMENTS
from tests.features.timeline.town import Town

EVERYTHING = frozenset(load_catalogue().sources) | frozenset(OPTIONAL_ELEMENTS)


def mover() -> Town:
    """K moves on 5 March 2024 from 990001 (holds health checks) to 990002 (does not)."""
    town = Town()
    town.person("K", "2013-05-05")
    town.live("K", "H1", since="2013-05-05", until="2024-03-04")
    town.live("K", "H7", since="2024-03-05", reason="moved_in", municipality="990002")
    town.add(
        "health_check",
        "K",
        "2023-05-10",
        known="2023-07-01",
        measured_on="2023-05-10",
        height_cm=140.0,
        weight_kg=33.0,
    )
    for month in pd.period_range("2023-09", "2024-04", freq="M"):
        reported = (month + 1).to_timestamp() + pd.Timedelta(days=9)
        town.add(
            "attendance",
            "K",
            f"{month}-01",
            known=str(reported.date()),
            target_month=f"{month}-01",
            absence_days=1,
            illness_absence_days=0,
            late_days=0,
            nurse_visits=None,
        )
    return town


def build(town: Town, holdings: dict[str, frozenset[str]], months: list[str]) -> pd.DataFrame:
    frame = build_features(town.records(holdings), months)
    return frame.set_index(["person_id", "as_of_month"])


def test_a_source_the_new_town_does_not_hold_goes_missing_and_is_flagged() -> None:
    holdings = {"990001": EVERYTHING, "990002": EVERYTHING - {"health_check", "nurse_visits"}}
    frame = build(mover(), holdings, ["2024-03", "2024-04"])
    before, after = frame.loc[("K", "2024-03")], frame.loc[("K", "2024-04")]
    assert before["missing_health_check"] == 0 and not np.isnan(before["weight_for_age_z"])
    assert after["missing_health_check"] == 1
    assert np.isnan(after["weight_for_age_z"]) and np.isnan(after["obesity_degree_pct"])
    assert after["municipality"] == "990002"


def test_an_element_left_empty_is_missing_while_the_rest_of_its_source_is_not() -> None:
    holdings = {"990001": EVERYTHING - {"nurse_visits"}, "990002": EVERYTHING}
    frame = build(mover(), holdings, ["2024-03"])
    row = frame.loc[("K", "2024-03")]
    assert row["missing_nurse_visits"] == 1 and row["missing_attendance"] == 0
    assert np.isnan(row["nurse_visits_3m"])
    assert row["absence_days_3m"] == 3


def test_empty_cells_are_not_zero_even_where_the_element_is_held() -> None:
    frame = build(mover(), {"990001": EVERYTHING, "990002": EVERYTHING}, ["2024-03"])
    assert np.isnan(frame.loc[("K", "2024-03"), "nurse_visits_12m"])


def test_a_source_not_held_is_missing_not_zero_even_with_nothing_to_count() -> None:
    town = mover()
    held = {"990001": EVERYTHING - {"consultation"}, "990002": EVERYTHING}
    row = build(town, held, ["2024-03"]).loc[("K", "2024-03")]
    assert np.isnan(row["consultations_total"]) and row["missing_consultation"] == 1
    row = build(town, {"990001": EVERYTHING, "990002": EVERYTHING}, ["2024-03"]).loc[
        ("K", "2024-03")
    ]
    assert row["consultations_total"] == 0 and row["missing_consultation"] == 0


def test_rows_of_a_source_the_town_declares_it_does_not_hold_are_not_used() -> None:
    town = mover()
    town.add(
        "consultation",
        "K",
        "2023-06-01",
        received_on="2023-06-01",
        consultation_kind="neglect",
        outcome="abuse_substantiated",
    )
    held = {"990001": EVERYTHING - {"consultation"}, "990002": EVERYTHING}
    row = build(town, held, ["2024-03"]).loc[("K", "2024-03")]
    assert np.isnan(row["abuse_substantiated_total"])


def test_a_feature_needing_two_sources_is_missing_without_either() -> None:
    town = Town()
    town.person("B", "2024-01-05")
    town.person("M", "1990-01-01", role="adult")
    town.live("B", "H1", since="2024-01-05")
    town.live("M", "H1", "head", since="2015-01-01")
    town.add(
        "birth",
        "B",
        "2024-01-05",
        known="2024-01-20",
        birth_date="2024-01-05",
        mother_person_id="M",
        birth_weight_g=3000,
    )
    town.add("epds", "M", "2024-02-10", screened_on="2024-02-10", epds_score=10)
    held = build(town, {"990001": EVERYTHING}, ["2024-04"]).loc[("B", "2024-04")]
    assert held["mother_epds_latest"] == 10
    row = build(town, {"990001": EVERYTHING - {"birth"}}, ["2024-04"]).loc[("B", "2024-04")]
    assert np.isnan(row["mother_epds_latest"]) and np.isnan(row["birth_weight_g"])
    assert row["missing_birth"] == 1 and row["missing_epds"] == 0
