"""Hand-built households with known answers, one feature group per test.

The family (town 990001): mother M1 (世帯主) and father F1 (配偶者) until F1 leaves on 10 March
2024; C1, a girl born 15 June 2012; C2, born 10 January 2020, with a 療育手帳; C3, born 20
December 2023; grandmother G1 (registered as 母 of the head: relationship parent). Most checks
are as of June 2024, whose instant is 1 June 2024 00:00: a row known on 1 June is not yet seen.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd
import pytest

from features.pointintime import build_features
from features.timeline.records import LinkedRecords
from tests.features.timeline.town import Town

MONTHS = ("2024-03", "2024-04", "2024-05", "2024-06", "2024-07")


def family() -> Town:
    town = Town()
    town.person("C1", "2012-06-15")
    town.person("C2", "2020-01-10", sex="M")
    town.person("C3", "2023-12-20")
    town.person("M1", "1985-02-01", role="adult")
    town.person("F1", "1983-07-01", sex="M", role="adult")
    town.person("G1", "1950-03-03", role="adult")
    town.live("M1", "H1", "head", since="2010-01-01")
    town.live("F1", "H1", "spouse", since="2010-01-01", until="2024-03-10")
    town.live("G1", "H1", "parent", since="2015-01-01")
    town.live("C1", "H1", "child", since="2012-06-15", until="2023-09-04", nationality="foreign")
    town.live(
        "C1",
        "H1",
        "child",
        since="2023-09-05",
        known="2023-09-10",
        reason="moved_within",
        nationality="foreign",
    )
    # Notified after the June instant: invisible as of June.
    town.live("C1", "H1", "child", since="2024-05-28", known="2024-06-03", reason="moved_within")
    town.live("C2", "H1", "child", since="2020-01-10")
    town.live("C3", "H1", "child", since="2023-12-20", known="2023-12-25", reason="birth")
    return town


def with_everything(town: Town) -> Town:
    # Care need of the grandmother: certified 10 April, delivered a month later (lag rule).
    town.add(
        "care_need",
        "G1",
        "2024-04-10",
        known="2024-05-11",
        care_level="care_2",
        certified_on="2024-04-10",
    )
    town.add(
        "disability",
        "M1",
        "2023-01-10",
        known="2023-02-10",
        certificate_kind="mental",
        issued_on="2023-01-10",
    )
    town.add(
        "disability",
        "C2",
        "2023-03-01",
        known="2023-04-01",
        certificate_kind="intellectual",
        issued_on="2023-03-01",
    )
    for person, bracket, status in (("M1", 2, "exempt"), ("F1", 5, "taxed")):
        town.add(
            "tax",
            person,
            "2023-06-15",
            fiscal_year=2023,
            income_bracket=bracket,
            tax_status=status,
            decided_on="2023-06-15",
        )
    town.add(
        "tax",
        "M1",
        "2024-06-15",
        fiscal_year=2024,
        income_bracket=3,
        tax_status="taxed",
        decided_on="2024-06-15",
    )
    for month, count, known in (
        ("2023-05", 1, "2023-06-10"),  # outside the 12 months before June 2024
        ("2024-01", 3, "2024-02-15"),
        ("2024-03", 4, "2024-04-15"),
        ("2024-05", 6, "2024-06-15"),  # not yet known in June
    ):
        town.add(
            "arrears",
            "M1",
            f"{month}-01",
            known=known,
            target_month=f"{month}-01",
            months_in_arrears=count,
        )
    town.add(
        "public_assistance",
        "C1",
        "2024-02-10",
        known="2024-02-20",
        started_on="2024-02-10",
        ended_on="2024-05-20",
    )
    town.add(
        "public_assistance",
        "C2",
        "2024-02-10",
        known="2024-02-20",
        started_on="2024-02-10",
        ended_on="2024-06-10",
    )
    town.add(
        "single_parent_allowance",
        "C1",
        "2024-03-01",
        known="2024-04-01",
        certified_on="2024-03-01",
        lost_on="2024-05-15",
        recipient_person_id="M1",
    )
    town.add(
        "consultation",
        "C1",
        "2023-01-10",
        known="2023-01-15",
        received_on="2023-01-10",
        consultation_kind="parenting",
        outcome="advice_and_support",
    )
    town.add(
        "consultation",
        "C1",
        "2024-03-01",
        known="2024-03-05",
        received_on="2024-03-01",
        consultation_kind="neglect",
        outcome="abuse_substantiated",
    )
    town.add(
        "consultation",
        "C1",
        "2024-05-30",
        known="2024-06-02",
        received_on="2024-05-30",
        consultation_kind="neglect",
        outcome="abuse_substantiated",
    )
    town.add(
        "child_protection",
        "C1",
        "2024-03-12",
        registered_on="2024-03-12",
        registration_kind="support_needed",
        main_reason="parenting_difficulty",
        closed_on="2024-05-02",
    )
    town.add(
        "young_carer",
        "C1",
        "2024-05-20",
        identified_on="2024-05-20",
        route="survey",
        cared_for="sibling",
    )
    town.add(
        "infant_checkup",
        "C3",
        "2024-04-01",
        known="2024-06-01",
        target_month="2024-04-01",
        checkup_kind="month_4",
        status="missed",
    )
    town.add(
        "vaccination",
        "C3",
        "2024-02-01",
        known="2024-04-01",
        due_month="2024-02-01",
        vaccine="BCG",
        status="given",
    )
    town.add(
        "vaccination",
        "C3",
        "2024-03-01",
        known="2024-05-01",
        due_month="2024-03-01",
        vaccine="MR",
        status="not_given",
    )
    town.add(
        "birth",
        "C3",
        "2023-12-20",
        known="2024-01-10",
        birth_date="2023-12-20",
        birth_weight_g=2400,
        mother_person_id="M1",
    )
    town.add("pregnancy", "M1", "2019-06-01", notified_on="2019-06-01", gestational_week=8)
    town.add("pregnancy", "M1", "2023-06-01", notified_on="2023-06-01", gestational_week=10)
    for screened, score, recorded in (
        ("2023-11-25", 14, "2023-11-30"),  # before C3 was born: another pregnancy's business
        ("2024-01-25", 6, "2024-02-01"),
        ("2024-03-25", 11, "2024-04-02"),
        ("2024-05-28", 4, "2024-06-03"),  # not yet known in June
    ):
        town.add("epds", "M1", screened, known=recorded, screened_on=screened, epds_score=score)
    town.add(
        "school_aid",
        "C1",
        "2023-04-20",
        known="2023-05-21",
        school_year=2023,
        certified_on="2023-04-20",
        aid_kind="quasi_protection",
    )
    town.add(
        "school_aid",
        "C1",
        "2024-04-15",
        known="2024-05-16",
        school_year=2024,
        certified_on="2024-04-15",
        aid_kind="protection",
    )
    add_attendance(town)
    add_health_checks(town)
    return town


def add_attendance(town: Town) -> None:
    # C1: month m of 2023-06 .. 2024-05 has absence = its position (1..12), illness 1 where
    # absence >= 2; reported on the 10th of the next month; 2024-05 only on 10 June.
    months = pd.period_range("2023-06", "2024-05", freq="M")
    for position, month in enumerate(months, start=1):
        reported = (month + 1).to_timestamp() + pd.Timedelta(days=9)
        town.add(
            "attendance",
            "C1",
            f"{month}-01",
            known=str(reported.date()),
            target_month=f"{month}-01",
            school_days=18,
            absence_days=position,
            illness_absence_days=1 if position >= 2 else 0,
            late_days=2,
            nurse_visits=1,
        )
    # A correction of March 2024 (absence 10 -> 0) known 20 April, and one known after June.
    town.add(
        "attendance",
        "C1",
        "2024-03-01",
        known="2024-04-20",
        target_month="2024-03-01",
        school_days=18,
        absence_days=0,
        illness_absence_days=0,
        late_days=2,
        nurse_visits=1,
    )
    town.add(
        "attendance",
        "C1",
        "2024-03-01",
        known="2024-06-02",
        target_month="2024-03-01",
        school_days=18,
        absence_days=30,
        illness_absence_days=0,
        late_days=2,
        nurse_visits=1,
    )


def add_health_checks(town: Town) -> None:
    for measured, weight, reported in (
        ("2022-05-10", 34.0, "2022-07-01"),
        ("2023-05-10", 38.0, "2023-07-01"),
        ("2024-05-12", 45.0, "2024-07-05"),  # reported after June
    ):
        town.add(
            "health_check",
            "C1",
            measured,
            known=reported,
            measured_on=measured,
            height_cm=145.0,
            weight_kg=weight,
        )


@cache
def family_records() -> LinkedRecords:
    return with_everything(family()).records()


@cache
def features() -> pd.DataFrame:
    return build_features(family_records(), MONTHS).set_index(["person_id", "as_of_month"])


def value(person: str, month: str, column: str) -> float:
    return float(features().loc[(person, month), column])


def test_only_resident_children_are_rows() -> None:
    people = set(features().xs("2024-06", level="as_of_month").index)
    assert people == {"C1", "C2", "C3"}


def test_a_child_notified_on_the_instant_itself_is_not_yet_there() -> None:
    town = family()
    town.person("C4", "2024-05-20")
    town.live("C4", "H1", "child", since="2024-05-20", known="2024-06-01", reason="birth")
    frame = build_features(town.records(), ["2024-06", "2024-07"])
    assert set(frame.loc[frame["person_id"] == "C4", "as_of_month"]) == {"2024-07"}


def test_age_stage_and_municipality() -> None:
    assert value("C1", "2024-06", "age_months") == 143  # 15 June 2012: 11 years 11 months
    assert value("C1", "2024-06", "school_stage") == 1  # 小6 in school year 2024
    assert value("C3", "2024-06", "age_months") == 5
    assert value("C3", "2024-06", "school_stage") == 0
    assert features().loc[("C1", "2024-06"), "municipality"] == "990001"


@pytest.mark.parametrize(
    ("birth", "stage"),
    [("2012-04-01", 2), ("2012-04-02", 1), ("2009-04-02", 2), ("2009-04-01", 3)],
)
def test_school_stage_follows_the_april_cohort(birth: str, stage: int) -> None:
    town = Town()
    town.person("K", birth)
    town.live("K", "H9", since=birth)
    frame = build_features(town.records(), ["2024-06"])
    assert frame.loc[0, "school_stage"] == stage


def test_household_composition_as_known() -> None:
    assert value("C1", "2024-03", "single_parent") == 0  # F1 still registered on 1 March
    assert value("C1", "2024-04", "single_parent") == 1
    assert value("C1", "2024-06", "household_adults") == 2  # M1 and G1
    assert value("C1", "2024-06", "siblings") == 2
    assert value("C1", "2024-06", "siblings_under_6") == 2
    assert value("C1", "2024-06", "youngest_sibling_age_months") == 5
    assert value("C3", "2024-06", "youngest_sibling_age_months") == 52
    assert value("C3", "2024-06", "siblings_under_6") == 1


def test_moves_and_nationality() -> None:
    assert value("C1", "2024-06", "moves_12m") == 1  # 5 Sept 2023; the May move is not known
    assert value("C1", "2024-06", "moves_24m") == 1
    assert value("C1", "2024-07", "moves_12m") == 2
    assert value("C1", "2024-06", "foreign_nationality") == 1
    assert value("C1", "2024-07", "foreign_nationality") == 0  # the latest record says Japanese


def test_care_need_and_disability_of_others() -> None:
    assert value("C1", "2024-05", "household_care_need_members") == 0  # delivered 11 May
    assert value("C1", "2024-06", "household_care_need_members") == 1
    assert value("C1", "2024-06", "household_disability_members") == 2  # M1 and C2
    assert value("C1", "2024-06", "household_mental_disability_members") == 1
    assert value("C1", "2024-06", "child_disability") == 0
    assert value("C2", "2024-06", "child_disability") == 1
    assert value("C2", "2024-06", "household_disability_members") == 1  # its own not counted


def test_tax_of_the_household_members() -> None:
    assert value("C1", "2024-03", "household_income_bracket") == 5  # F1 still there
    assert value("C1", "2024-03", "household_tax_exempt") == 0
    assert value("C1", "2024-06", "household_income_bracket") == 2  # FY2024 decided 15 June
    assert value("C1", "2024-06", "household_tax_exempt") == 1
    assert value("C1", "2024-07", "household_income_bracket") == 3


def test_arrears_in_the_last_twelve_months() -> None:
    assert value("C1", "2024-06", "household_arrears_months_12m") == 2
    assert value("C1", "2024-06", "household_arrears_max_12m") == 4
    assert value("C1", "2024-07", "household_arrears_max_12m") == 6


def test_welfare_spells() -> None:
    assert value("C1", "2024-05", "public_assistance_current") == 1
    assert value("C1", "2024-06", "public_assistance_current") == 0
    assert value("C1", "2024-06", "public_assistance_ever") == 1
    assert value("C2", "2024-06", "public_assistance_current") == 1  # ends 10 June
    assert value("C1", "2024-04", "single_parent_allowance_current") == 0  # known 1 April
    assert value("C1", "2024-05", "single_parent_allowance_current") == 1
    # Lost on 15 May, but the monthly extract brings that only a month later.
    assert value("C1", "2024-06", "single_parent_allowance_current") == 1
    assert value("C1", "2024-07", "single_parent_allowance_current") == 0


def test_consultations_and_child_protection() -> None:
    assert value("C1", "2024-06", "consultations_total") == 2  # the 30 May one is recorded 2 June
    assert value("C1", "2024-06", "consultations_12m") == 1
    assert value("C1", "2024-06", "abuse_substantiated_total") == 1
    assert value("C1", "2024-04", "child_protection_current") == 1
    assert value("C1", "2024-06", "child_protection_current") == 0
    assert value("C1", "2024-06", "child_protection_ever") == 1
    assert value("C2", "2024-06", "consultations_total") == 0  # held and empty: a true zero


def test_siblings_consultations_and_child_protection() -> None:
    # Everything is C1's: her brother C2 and sister C3 see it, she does not see her own.
    assert value("C2", "2024-06", "siblings_consultations_12m") == 1  # 1 March 2024
    assert value("C3", "2024-06", "siblings_abuse_substantiated_total") == 1
    assert value("C1", "2024-06", "siblings_consultations_12m") == 0
    assert value("C1", "2024-06", "siblings_abuse_substantiated_total") == 0
    assert value("C2", "2024-04", "siblings_child_protection_current") == 1
    assert value("C2", "2024-06", "siblings_child_protection_current") == 0
    assert value("C2", "2024-06", "siblings_child_protection_ever") == 1
    assert value("C1", "2024-06", "siblings_child_protection_ever") == 0
    assert value("C2", "2024-03", "siblings_child_protection_ever") == 0  # registered 12 March


def test_siblings_young_carer_identification() -> None:
    assert value("C3", "2024-05", "siblings_young_carer_identified") == 0
    assert value("C3", "2024-06", "siblings_young_carer_identified") == 1
    assert value("C1", "2024-06", "siblings_young_carer_identified") == 0


def test_siblings_school_year_is_the_mean_over_reported_pupils() -> None:
    # C1 is the only pupil: her brother sees her figures, she has no sibling to average.
    assert value("C2", "2024-06", "siblings_late_days_12m_mean") == 2 * 11
    assert value("C3", "2024-06", "siblings_absence_nonillness_days_12m_mean") == value(
        "C1", "2024-06", "absence_nonillness_days_12m"
    )
    assert value("C2", "2024-06", "siblings_nurse_visits_12m_mean") == 11
    assert np.isnan(value("C1", "2024-06", "siblings_late_days_12m_mean"))


def test_siblings_mean_leaves_out_the_child_and_the_unreported() -> None:
    town = Town()
    for person, birth in (("A", "2012-05-05"), ("B", "2014-05-05"), ("C", "2022-05-05")):
        town.person(person, birth)
        town.live(person, "H7", since=birth)
    for person, late in (("A", 4), ("B", 8)):
        town.add(
            "attendance",
            person,
            "2024-04-01",
            known="2024-05-10",
            target_month="2024-04-01",
            absence_days=0,
            illness_absence_days=0,
            late_days=late,
        )
    frame = build_features(town.records(), ["2024-06"]).set_index("person_id")
    assert frame.loc["C", "siblings_late_days_12m_mean"] == 6  # (4 + 8) / 2
    assert frame.loc["A", "siblings_late_days_12m_mean"] == 8
    assert frame.loc["B", "siblings_late_days_12m_mean"] == 4


def test_attendance_windows_end_at_the_latest_reported_month() -> None:
    # Latest report known on 1 June: April 2024 (absence 11); March was corrected to 0.
    assert value("C1", "2024-06", "attendance_report_lag_months") == 2
    assert value("C1", "2024-06", "absence_days_1m") == 11
    assert value("C1", "2024-06", "absence_days_3m") == 9 + 0 + 11
    assert value("C1", "2024-06", "absence_days_6m") == 6 + 7 + 8 + 9 + 0 + 11
    assert value("C1", "2024-06", "absence_days_12m") == sum(range(1, 12)) - 10  # 11 months
    assert value("C1", "2024-06", "absence_nonillness_days_3m") == 8 + 0 + 10
    assert value("C1", "2024-06", "absence_days_trend_3m") == (9 + 0 + 11) - (6 + 7 + 8)
    assert value("C1", "2024-06", "late_days_3m") == 6
    assert value("C1", "2024-06", "nurse_visits_12m") == 11
    # School year 2024 so far: April only (non-illness 10).
    assert value("C1", "2024-06", "absence_nonillness_days_school_year") == 10
    assert value("C1", "2024-05", "absence_nonillness_days_school_year") == 0


def test_a_late_report_moves_the_window_instead_of_counting_zero() -> None:
    town = family()
    for month, absence, known in (
        ("2024-02", 2, "2024-03-10"),
        ("2024-03", 4, "2024-04-10"),
        ("2024-04", 6, "2024-06-05"),
    ):
        town.add(
            "attendance",
            "C1",
            f"{month}-01",
            known=known,
            target_month=f"{month}-01",
            absence_days=absence,
            illness_absence_days=0,
            late_days=0,
        )
    frame = build_features(town.records(), ["2024-06"]).set_index("person_id")
    assert frame.loc["C1", "attendance_report_lag_months"] == 3
    assert frame.loc["C1", "absence_days_1m"] == 4
    assert frame.loc["C1", "absence_days_3m"] == 6


def test_a_child_no_longer_reported_has_no_attendance_values() -> None:
    town = family()
    town.add(
        "attendance",
        "C1",
        "2023-12-01",
        known="2024-01-10",
        target_month="2023-12-01",
        absence_days=3,
        illness_absence_days=0,
        late_days=0,
    )
    frame = build_features(town.records(), ["2024-02", "2024-06"]).set_index(
        ["person_id", "as_of_month"]
    )
    assert frame.loc[("C1", "2024-02"), "absence_days_1m"] == 3
    assert np.isnan(frame.loc[("C1", "2024-06"), "absence_days_1m"])
    assert np.isnan(frame.loc[("C1", "2024-06"), "attendance_report_lag_months"])
    assert np.isnan(frame.loc[("C2", "2024-06"), "absence_days_1m"])  # never a pupil


def test_health_check_growth() -> None:
    # Latest known in June: 2023 (38.0 kg, 145 cm, age 10, girl); a year before: 34.0 kg.
    assert value("C1", "2024-06", "weight_change_kg_per_year") == pytest.approx(4.0)
    assert value("C1", "2024-06", "weight_for_age_z") == pytest.approx((38.0 - 34.1) / 7.0)
    standard = 0.730 * 145.0 - 68.091
    expected = (38.0 - standard) / standard * 100
    assert value("C1", "2024-06", "obesity_degree_pct") == pytest.approx(expected, rel=1e-5)
    # The May 2024 measurement is reported on 5 July: not yet in July either.
    assert value("C1", "2024-07", "weight_change_kg_per_year") == pytest.approx(4.0)


def test_school_aid_runs_for_its_school_year() -> None:
    assert value("C1", "2024-03", "school_aid_current") == 1
    assert value("C1", "2024-04", "school_aid_current") == 0  # 2023 ended; 2024 not delivered
    assert value("C1", "2024-05", "school_aid_current") == 0
    assert value("C1", "2024-06", "school_aid_current") == 1
    assert value("C1", "2024-06", "school_aid_protection") == 1
    assert value("C1", "2024-03", "school_aid_protection") == 0


def test_young_carer_identification() -> None:
    assert value("C1", "2024-05", "young_carer_identified") == 0
    assert value("C1", "2024-06", "young_carer_identified") == 1


def test_maternal_and_child_health() -> None:
    assert value("C3", "2024-06", "infant_checkups_due") == 0  # known on the instant itself
    assert value("C3", "2024-07", "infant_checkups_missed") == 1
    assert value("C3", "2024-06", "vaccinations_due") == 2
    assert value("C3", "2024-06", "vaccinations_missed") == 1
    assert value("C3", "2024-06", "birth_weight_g") == 2400
    assert value("C3", "2024-06", "pregnancy_notification_week") == 10
    assert value("C3", "2024-06", "mother_epds_latest") == 11
    assert value("C3", "2024-06", "mother_epds_max") == 11
    assert value("C3", "2024-07", "mother_epds_latest") == 4
    assert value("C3", "2024-03", "mother_epds_latest") == 6
    assert np.isnan(value("C2", "2024-06", "pregnancy_notification_week"))  # over 3 years


def test_siblings_checkups_vaccinations_pregnancy_and_growth() -> None:
    # C3's missed 4-month checkup is recorded on 1 June, so it is seen from July.
    assert value("C1", "2024-06", "siblings_infant_checkups_missed") == 0
    assert value("C1", "2024-07", "siblings_infant_checkups_missed") == 1
    assert value("C3", "2024-07", "siblings_infant_checkups_missed") == 0
    assert value("C2", "2024-05", "siblings_vaccinations_missed") == 0  # recorded 1 May
    assert value("C2", "2024-06", "siblings_vaccinations_missed") == 1
    # C3's pregnancy was notified at week 10; C1 and C2 are past 3, so C3 has none to average.
    assert value("C1", "2024-06", "siblings_pregnancy_notification_week_mean") == 10
    assert np.isnan(value("C3", "2024-06", "siblings_pregnancy_notification_week_mean"))
    assert value("C2", "2024-06", "siblings_weight_for_age_z_mean") == pytest.approx(
        (38.0 - 34.1) / 7.0
    )
    assert np.isnan(value("C1", "2024-06", "siblings_weight_for_age_z_mean"))
