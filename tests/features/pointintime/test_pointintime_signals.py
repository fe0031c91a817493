"""Known answers for the calendar, separation, maternal and shock features (the 'missing
signals'): the family of the known-answer tests plus a divorce, a second tax year and checks on
small towns of their own. Missing-source cases at the end: NaN and flagged, never zero.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd
import pytest

from features.ingest.catalogue import load_catalogue
from features.pointintime import build_features
from features.timeline.records import OPTIONAL_ELEMENTS
from tests.features.pointintime.test_pointintime_known_answers import family, with_everything
from tests.features.timeline.town import Town

EVERYTHING = frozenset(load_catalogue().sources) | frozenset(OPTIONAL_ELEMENTS)
MONTHS = ("2024-03", "2024-04", "2024-05", "2024-06", "2024-07", "2026-11", "2026-12")


def extended() -> Town:
    town = with_everything(family())
    # M1 takes back her maiden name on 20 March 2024, notified 2 April (visible from May).
    town.add(
        "registry_name_change",
        "M1",
        "2024-03-20",
        known="2024-04-02",
        change_reason="divorce",
        changed_on="2024-03-20",
        notified_on="2024-04-02",
    )
    # A marriage name change is not a separation.
    town.add(
        "registry_name_change",
        "G1",
        "2024-01-10",
        known="2024-01-15",
        change_reason="marriage_or_adoption",
        changed_on="2024-01-10",
        notified_on="2024-01-15",
    )
    # G1's income falls from bracket 4 (FY2023) to 1 (FY2024, decided 15 June 2024).
    for year, bracket, decided in ((2023, 4, "2023-06-15"), (2024, 1, "2024-06-15")):
        town.add(
            "tax",
            "G1",
            decided,
            fiscal_year=year,
            income_bracket=bracket,
            tax_status="taxed",
            decided_on=decided,
        )
    return town


@cache
def features() -> pd.DataFrame:
    frame = build_features(extended().records(), MONTHS)
    return frame.set_index(["person_id", "as_of_month"])


def value(person: str, month: str, column: str) -> float:
    return float(features().loc[(person, month), column])


def one_child(birth: str, months: list[str]) -> pd.DataFrame:
    town = Town()
    town.person("K", birth)
    town.live("K", "H9", since=birth)
    return build_features(town.records(), months).set_index("as_of_month")


# -- calendar facts from T alone ---------------------------------------------------------------


def test_calendar_month_of_the_as_of_instant() -> None:
    assert value("C1", "2024-06", "as_of_month_of_year") == 6
    assert value("C3", "2024-03", "as_of_month_of_year") == 3
    assert value("C3", "2026-12", "as_of_month_of_year") == 12


def test_months_to_the_next_may_decision_for_pupils_then() -> None:
    # C1 is 小6 in school year 2024 and 中1 in 2025.
    assert value("C1", "2024-03", "months_to_school_aid_decision") == 2
    assert value("C1", "2024-05", "months_to_school_aid_decision") == 0
    assert value("C1", "2024-06", "months_to_school_aid_decision") == 11
    # C2 (born January 2020) enters 小1 only in April 2026.
    assert np.isnan(value("C2", "2024-06", "months_to_school_aid_decision"))
    assert value("C2", "2026-11", "months_to_school_aid_decision") == 6
    assert np.isnan(value("C3", "2024-06", "months_to_school_aid_decision"))


def test_school_months_left_in_the_school_year() -> None:
    assert value("C1", "2024-03", "school_months_left") == 1
    assert value("C1", "2024-04", "school_months_left") == 12
    assert value("C1", "2024-06", "school_months_left") == 10
    assert np.isnan(value("C2", "2024-06", "school_months_left"))
    assert value("C2", "2026-12", "school_months_left") == 4


@pytest.mark.parametrize(
    ("birth", "month", "to_decision", "left"),
    [
        ("2018-06-01", "2024-06", 11, None),  # 小1 from April 2025: decided then, not a pupil now
        ("2018-04-01", "2024-06", 11, 10),  # the 1 April cohort is already 小1 in 2024
        ("2008-06-01", "2024-03", None, 1),  # 中3 in March: no May decision left for it
        ("2008-06-01", "2024-04", None, None),  # past compulsory school
    ],
)
def test_the_april_cohort_decides_who_is_a_pupil(
    birth: str, month: str, to_decision: int | None, left: int | None
) -> None:
    row = one_child(birth, [month]).loc[month]
    for column, expected in (
        ("months_to_school_aid_decision", to_decision),
        ("school_months_left", left),
    ):
        if expected is None:
            assert np.isnan(row[column]), column
        else:
            assert row[column] == expected, column


# -- separation ---------------------------------------------------------------------------------


def test_a_parent_leaving_the_household_counts_for_twelve_months() -> None:
    # F1's registration ends on 10 March 2024: seen from April 2024 to March 2025.
    assert value("C1", "2024-03", "parent_left_household_12m") == 0
    assert value("C1", "2024-04", "parent_left_household_12m") == 1
    assert value("C3", "2024-07", "parent_left_household_12m") == 1
    assert value("C1", "2026-11", "parent_left_household_12m") == 0


def test_a_parent_moving_within_the_household_has_not_left() -> None:
    town = Town()
    town.person("K", "2015-05-05")
    town.person("P", "1985-01-01", role="adult")
    town.person("Q", "1986-01-01", role="adult")
    town.live("K", "H9", since="2015-05-05")
    town.live("P", "H9", "head", since="2010-01-01", until="2024-01-10")
    town.live("P", "H9", "head", since="2024-01-11", reason="moved_within")
    town.live("Q", "H9", "spouse", since="2010-01-01", until="2024-02-10")
    town.live("Q", "H8", "head", since="2024-02-11", reason="moved_within")
    frame = build_features(town.records(), ["2024-02", "2024-03"]).set_index("as_of_month")
    assert frame.loc["2024-02", "parent_left_household_12m"] == 0  # P is still there
    assert frame.loc["2024-03", "parent_left_household_12m"] == 1  # Q set up another 世帯


@pytest.mark.parametrize("with_partner", [True, False])
def test_a_parent_who_joined_after_the_child(with_partner: bool) -> None:
    town = Town()
    town.person("K", "2018-03-03")
    town.person("M", "1990-01-01", role="adult")
    town.live("K", "H9", since="2018-03-03", until="2022-01-09")
    town.live("M", "H9", "head", since="2015-01-01", until="2022-01-09")
    # The whole household moves within the town in January 2022: new spells, same members.
    town.live("K", "H9", since="2022-01-10", reason="moved_within")
    town.live("M", "H9", "head", since="2022-01-10", reason="moved_within")
    if with_partner:
        town.person("P", "1988-01-01", sex="M", role="adult")
        town.live("P", "H9", "spouse", since="2021-06-01", until="2022-01-09")
        town.live("P", "H9", "spouse", since="2022-01-10", reason="moved_within")
    frame = build_features(town.records(), ["2021-06", "2021-07", "2022-03"]).set_index(
        "as_of_month"
    )
    joined = frame["parent_joined_after_child"]
    assert joined["2021-06"] == 0  # P moves in on 1 June itself: not before the instant
    assert joined["2021-07"] == int(with_partner)
    assert joined["2022-03"] == int(with_partner)  # the move does not make anyone new


def test_a_back_dated_registration_counts_only_once_it_is_known() -> None:
    town = Town()
    town.person("K", "2018-03-03")
    town.person("P", "1988-01-01", sex="M", role="adult")
    town.live("K", "H9", since="2018-03-03")
    town.live("P", "H9", "spouse", since="2021-06-01")
    # P's earlier years in the household, notified only in February 2022.
    town.live("P", "H9", "spouse", since="2016-01-01", until="2021-05-31", known="2022-02-01")
    frame = build_features(town.records(), ["2021-07", "2022-03"]).set_index("as_of_month")
    assert frame.loc["2021-07", "parent_joined_after_child"] == 1  # as the registry read then
    assert frame.loc["2022-03", "parent_joined_after_child"] == 0  # P was there before K


def test_the_family_parents_did_not_join_after_the_children() -> None:
    assert value("C3", "2024-03", "parent_joined_after_child") == 0
    assert value("C1", "2024-07", "parent_joined_after_child") == 0


def test_a_divorce_name_change_in_the_household() -> None:
    assert value("C1", "2024-04", "household_divorce_12m") == 0  # notified 2 April
    assert value("C1", "2024-05", "household_divorce_12m") == 1
    assert value("C2", "2024-07", "household_divorce_12m") == 1
    assert value("C1", "2026-11", "household_divorce_12m") == 0


# -- mothers ------------------------------------------------------------------------------------


def test_the_household_mothers_highest_epds_over_three_years() -> None:
    # M1: 14 (Nov 2023), 6 (Jan 2024), 11 (Mar 2024, recorded 2 April), 4 (May, recorded June).
    assert value("C1", "2024-03", "household_mother_epds_max_36m") == 14  # an 11-year-old too
    assert value("C2", "2024-06", "household_mother_epds_max_36m") == 14
    assert value("C3", "2026-11", "household_mother_epds_max_36m") == 14
    assert value("C1", "2026-12", "household_mother_epds_max_36m") == 11  # Nov 2023 aged out


def test_no_screened_mother_in_the_household_is_missing() -> None:
    frame = one_child("2015-05-05", ["2024-06"])
    assert np.isnan(frame.loc["2024-06", "household_mother_epds_max_36m"])


def test_mothers_age_at_the_birth() -> None:
    # M1 (1 February 1985) at C3's birth on 20 December 2023; the record is known 10 January.
    assert value("C3", "2024-03", "mother_age_at_birth_years") == 38
    assert np.isnan(value("C1", "2024-06", "mother_age_at_birth_years"))  # no newborn record


@pytest.mark.parametrize(("mother_birth", "age"), [("1990-01-10", 34), ("1990-01-11", 33)])
def test_mothers_age_is_in_completed_years(mother_birth: str, age: int) -> None:
    town = Town()
    town.person("K", "2024-01-10")
    town.person("Q", mother_birth, role="adult")
    town.live("K", "H9", since="2024-01-10", reason="birth")
    town.live("Q", "H9", "head", since="2015-01-01")
    town.add(
        "birth",
        "K",
        "2024-01-10",
        birth_date="2024-01-10",
        birth_weight_g=3000,
        mother_person_id="Q",
    )
    frame = build_features(town.records(), ["2024-02"])
    assert frame.loc[0, "mother_age_at_birth_years"] == age


def test_a_marriage_or_adoption_since_the_birth_in_the_household() -> None:
    # G1's marriage name change of 10 January 2024 (notified 15 January), after all three births.
    assert value("C3", "2024-03", "household_union_since_birth") == 1
    assert value("C1", "2024-07", "household_union_since_birth") == 1


@pytest.mark.parametrize(
    ("married", "expected_before", "expected_after"),
    [("2018-04-01", 0, 0), ("2021-04-01", 0, 1)],
)
def test_a_union_before_the_child_was_born_does_not_count(
    married: str, expected_before: int, expected_after: int
) -> None:
    town = Town()
    town.person("K", "2020-02-02")
    town.person("M", "1990-01-01", role="adult")
    town.live("K", "H9", since="2020-02-02")
    town.live("M", "H9", "head", since="2015-01-01")
    town.add(
        "registry_name_change",
        "M",
        married,
        known=married,
        change_reason="marriage",
        changed_on=married,
        notified_on=married,
    )
    frame = build_features(town.records(), ["2021-04", "2021-05"]).set_index("as_of_month")
    assert frame.loc["2021-04", "household_union_since_birth"] == expected_before
    assert frame.loc["2021-05", "household_union_since_birth"] == expected_after


# -- shocks: arrears and income ------------------------------------------------------------------


def test_arrears_sums_over_three_and_twelve_months() -> None:
    # M1: 3 (Jan 2024), 4 (Mar 2024), 6 (May 2024, known 15 June); May 2023 is out of the window.
    assert value("C1", "2024-06", "household_arrears_sum_3m") == 4
    assert value("C1", "2024-06", "household_arrears_sum_12m") == 7
    assert value("C1", "2024-07", "household_arrears_sum_3m") == 6
    assert value("C2", "2024-07", "household_arrears_sum_12m") == 13


def test_income_bracket_drop_against_the_previous_decision() -> None:
    # Before 15 June 2024 nobody has two decisions; then M1 goes 2 -> 3 and G1 4 -> 1.
    assert np.isnan(value("C1", "2024-06", "household_income_bracket_drop"))
    assert value("C1", "2024-07", "household_income_bracket_drop") == 1  # highest 4 -> 3


# -- missing sources ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "columns"),
    [
        ("registry_name_change", ["household_divorce_12m", "household_union_since_birth"]),
        ("consultation", ["siblings_consultations_12m", "siblings_abuse_substantiated_total"]),
        ("child_protection", ["siblings_child_protection_ever"]),
        ("attendance", ["siblings_late_days_12m_mean"]),
        ("infant_checkup", ["siblings_infant_checkups_missed"]),
        ("vaccination", ["siblings_vaccinations_missed"]),
        ("pregnancy", ["siblings_pregnancy_notification_week_mean"]),
        ("health_check", ["siblings_weight_for_age_z_mean"]),
        ("epds", ["household_mother_epds_max_36m"]),
        ("birth", ["mother_age_at_birth_years"]),
        ("arrears", ["household_arrears_sum_3m", "household_arrears_sum_12m"]),
        ("tax", ["household_income_bracket_drop"]),
    ],
)
def test_a_source_not_held_is_missing_not_zero(source: str, columns: list[str]) -> None:
    records = extended().records({"990001": EVERYTHING - {source}})
    frame = build_features(records, ["2024-07"]).set_index("person_id")
    for column in columns:
        assert frame[column].isna().all(), column
    assert (frame[f"missing_{source}"] == 1).all()


def test_calendar_and_registry_signals_exist_whatever_is_held() -> None:
    records = extended().records({"990001": frozenset()})
    frame = build_features(records, ["2024-07"]).set_index("person_id")
    assert frame.loc["C1", "as_of_month_of_year"] == 7
    assert frame.loc["C1", "months_to_school_aid_decision"] == 10
    assert frame.loc["C1", "parent_left_household_12m"] == 1


def test_calendar_facts_survive_a_screened_build() -> None:
    frame = build_features(extended().records(), ["2024-07"], purposes={"school"})
    row = frame.set_index("person_id").loc["C1"]
    assert row["as_of_month_of_year"] == 7 and row["school_months_left"] == 9
    assert "household_mother_epds_max_36m" not in frame.columns
