"""Labels of hand-built children with known answers: onsets, horizons, support, censoring."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.labels import build_labels, derive_onsets
from features.labels.definitions import load_label_definitions
from features.timeline.records import LinkedRecords
from tests.features.timeline.town import Town

MONTHS = [str(p) for p in pd.period_range("2023-03", "2024-12", freq="M")]


def child(town: Town, person: str, birth: str = "2012-06-15") -> None:
    town.person(person, birth)
    town.live(person, f"H-{person}", since=birth, known=birth)


def town_with_history() -> Town:
    town = Town()
    # Keeps the observed history open until March 2026, as the synthetic extracts do.
    town.person("Z", "1980-01-01", role="adult")
    town.live("Z", "HZ", "head", since="2000-01-01")
    town.add(
        "tax",
        "Z",
        "2026-03-15",
        decided_on="2026-03-15",
        fiscal_year=2025,
        tax_status="taxed",
        income_bracket=5,
    )
    return town


def labels(records: LinkedRecords, **options: object) -> pd.DataFrame:
    frame = build_labels(records, MONTHS, **options)  # type: ignore[arg-type]
    return frame.set_index(["person_id", "as_of_month"])


def months_with(frame: pd.DataFrame, person: str, column: str) -> list[str]:
    series = frame.xs(person, level="person_id")[column]
    return [m for m, v in series.items() if v is True or v == 1]


def abuse_town() -> LinkedRecords:
    town = town_with_history()
    child(town, "A")
    town.add(
        "consultation",
        "A",
        "2024-03-10",
        known="2024-03-12",
        received_on="2024-03-10",
        consultation_kind="neglect",
        outcome="abuse_substantiated",
    )
    # The registration that follows is the same case, not a second onset.
    town.add(
        "child_protection",
        "A",
        "2024-04-05",
        registered_on="2024-04-05",
        registration_kind="protection_needed",
        main_reason="abuse",
        closed_on="2024-09-20",
    )
    return town.records()


def test_abuse_label_covers_the_six_months_before_the_onset() -> None:
    frame = labels(abuse_town())
    assert months_with(frame, "A", "label_abuse") == [
        "2023-10",
        "2023-11",
        "2023-12",
        "2024-01",
        "2024-02",
        "2024-03",
    ]
    assert months_with(frame, "A", "already_supported_abuse") == [
        "2024-05",
        "2024-06",
        "2024-07",
        "2024-08",
        "2024-09",
    ]


def test_the_horizon_is_configurable() -> None:
    frame = labels(abuse_town(), horizon=1)
    assert months_with(frame, "A", "label_abuse") == ["2024-03"]


def test_labels_are_missing_where_the_window_passes_the_observed_history() -> None:
    frame = labels(abuse_town(), observed_until="2024-08")
    row = frame.xs("A", level="person_id")["label_abuse"]
    assert row["2024-03":"2024-03"].notna().all()
    assert row["2024-04":].isna().all()  # 2024-04 + 6 months reaches past August
    assert row[:"2024-03"].notna().all()


def test_labels_are_missing_outside_the_eligible_ages() -> None:
    town = town_with_history()
    child(town, "Y", birth="2021-05-01")
    frame = labels(town.records())
    assert frame.loc[("Y", "2024-06"), "label_truancy"] is pd.NA
    assert frame.loc[("Y", "2024-06"), "label_abuse"] is np.False_ or (
        frame.loc[("Y", "2024-06"), "label_abuse"] == False  # noqa: E712
    )


def poverty_town() -> LinkedRecords:
    town = town_with_history()
    child(town, "P1")
    child(town, "P2")
    child(town, "P3")
    # The first month the programme data covers: already running, not an entry.
    town.add(
        "public_assistance",
        "P3",
        "2021-04-10",
        known="2021-04-20",
        started_on="2021-04-10",
        ended_on="2021-08-10",
    )
    # P1: 就学援助 until June 2023, then 生活保護 from February 2024: within 12 months, no onset.
    town.add(
        "school_aid",
        "P1",
        "2022-04-20",
        known="2022-05-21",
        school_year=2022,
        certified_on="2022-04-20",
        aid_kind="quasi_protection",
    )
    town.add(
        "school_aid",
        "P1",
        "2023-04-20",
        known="2023-05-21",
        school_year=2023,
        certified_on="2023-04-20",
        cancelled_on="2023-07-05",
        aid_kind="quasi_protection",
    )
    town.add("public_assistance", "P1", "2024-02-10", known="2024-02-20", started_on="2024-02-10")
    # P2: nothing since 2022, then 生活保護 from February 2024: an onset.
    town.add(
        "school_aid",
        "P2",
        "2021-05-20",
        known="2021-06-21",
        school_year=2021,
        certified_on="2021-05-20",
        aid_kind="quasi_protection",
    )
    town.add("public_assistance", "P2", "2024-02-10", known="2024-02-20", started_on="2024-02-10")
    return town.records()


def test_poverty_is_entering_a_programme_after_a_year_without_one() -> None:
    records = poverty_town()
    onsets = derive_onsets(records)
    poverty = onsets[onsets["hardship"] == "poverty"]
    assert sorted(zip(poverty["person_id"], poverty["onset_month"], strict=True)) == [
        ("P1", "2022-04"),
        ("P2", "2021-05"),
        ("P2", "2024-02"),
    ]
    frame = labels(records)
    assert "2024-02" in months_with(frame, "P2", "label_poverty")
    assert months_with(frame, "P1", "label_poverty") == []
    supported = months_with(frame, "P1", "already_supported_poverty")
    # Cancelled on 5 July; a monthly extract brings that by 5 August, so September knows it.
    assert "2023-08" in supported and "2023-09" not in supported
    assert "2024-03" in supported


def test_truancy_is_thirty_non_illness_days_in_a_school_year() -> None:
    town = town_with_history()
    child(town, "T")
    for month, absent, illness in (
        ("2023-09", 12, 2),
        ("2023-10", 10, 0),
        ("2023-11", 12, 2),
        ("2023-12", 5, 0),
        ("2024-04", 3, 0),
    ):
        reported = (pd.Period(month, "M") + 1).to_timestamp() + pd.Timedelta(days=9)
        town.add(
            "attendance",
            "T",
            f"{month}-01",
            known=str(reported.date()),
            target_month=f"{month}-01",
            absence_days=absent,
            illness_absence_days=illness,
        )
    frame = labels(town.records())
    onsets = derive_onsets(town.records())
    assert onsets.loc[onsets["hardship"] == "truancy", "onset_month"].tolist() == ["2023-11"]
    assert months_with(frame, "T", "label_truancy")[0] == "2023-06"
    assert months_with(frame, "T", "label_truancy")[-1] == "2023-11"
    # Known once November's report (10 December) is in; over when the school year ends.
    assert months_with(frame, "T", "already_supported_truancy") == ["2024-01", "2024-02", "2024-03"]


def test_postpartum_depression_belongs_to_the_newborn() -> None:
    town = town_with_history()
    town.person("B", "2024-01-05")
    town.person("M", "1992-03-03", role="adult")
    town.live("M", "HB", "head", since="2020-01-01")
    town.live("B", "HB", "child", since="2024-01-05", known="2024-01-08", reason="birth")
    town.add(
        "birth",
        "B",
        "2024-01-05",
        known="2024-01-25",
        birth_date="2024-01-05",
        mother_person_id="M",
    )
    for screened, score, recorded in (
        ("2024-02-10", 10, "2024-02-15"),
        ("2024-04-10", 12, "2024-04-12"),
        ("2023-10-10", 15, "2023-10-12"),
    ):
        town.add("epds", "M", screened, known=recorded, screened_on=screened, epds_score=score)
    frame = labels(town.records())
    assert months_with(frame, "B", "label_postpartum_depression") == ["2024-02"]
    assert frame.loc[("B", "2024-03"), "label_postpartum_depression"] == False  # noqa: E712
    assert months_with(frame, "B", "already_supported_postpartum_depression")[0] == "2024-03"
    assert "M" not in frame.index.get_level_values("person_id")


def test_young_carer_onset_is_the_start_of_caring_when_recorded() -> None:
    town = town_with_history()
    child(town, "Y1")
    child(town, "Y2")
    town.add(
        "young_carer",
        "Y1",
        "2024-07-10",
        identified_on="2024-07-10",
        route="survey",
        cared_for="sibling",
        started_month="2023-09-01",
    )
    town.add(
        "young_carer",
        "Y2",
        "2024-07-10",
        identified_on="2024-07-10",
        route="casework",
        cared_for="unknown",
    )
    frame = labels(town.records())
    assert months_with(frame, "Y1", "label_young_carer") == [
        "2023-04",
        "2023-05",
        "2023-06",
        "2023-07",
        "2023-08",
        "2023-09",
    ]
    assert months_with(frame, "Y2", "label_young_carer")[-1] == "2024-07"
    assert months_with(frame, "Y1", "already_supported_young_carer")[0] == "2024-08"
    # `onset: identified`: the month the town learnt of it (10 July 2024) for both children.
    definitions = load_label_definitions()
    young_carer = definitions.hardships["young_carer"].model_copy(
        update={"params": {"onset": "identified"}}
    )
    by_identification = definitions.model_copy(
        update={"hardships": {**definitions.hardships, "young_carer": young_carer}}
    )
    frame = labels(town.records(), definitions=by_identification, hardships=["young_carer"])
    expected = ["2024-02", "2024-03", "2024-04", "2024-05", "2024-06", "2024-07"]
    assert months_with(frame, "Y1", "label_young_carer") == expected
    assert months_with(frame, "Y2", "label_young_carer") == expected
    assert months_with(frame, "Y1", "already_supported_young_carer")[0] == "2024-08"


@pytest.mark.parametrize("hardship", ["abuse", "poverty"])
def test_hardships_can_be_chosen(hardship: str) -> None:
    frame = build_labels(abuse_town(), MONTHS, hardships=[hardship])
    assert list(frame.columns) == [
        "person_id",
        "as_of_month",
        f"label_{hardship}",
        f"already_supported_{hardship}",
    ]
