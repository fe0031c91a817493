"""Maternal and child health: checkups, vaccinations, birth, 妊娠届出 and the mother's EPDS.

The mother's records are tied to the child through the newborn record (出生), which names the
mother's 母子記録番号; a link counts at T only when that newborn record was itself known.

The siblings' checkups, vaccinations and pregnancy notifications (of the other residents under
18 of the household at T) are offered beside the child's own: they speak for the household the
child lives in, also for a child past the age of its own.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import pandas as pd

from features.pointintime.inputs import (
    FeatureGroup,
    Inputs,
    siblings_mean,
    siblings_total,
)
from features.timeline.events import Events
from features.timeline.months import NEVER, month_index
from features.timeline.population import AsOf
from features.timeline.tally import Tally

__all__ = [
    "Birth",
    "Epds",
    "HouseholdEpds",
    "InfantCheckup",
    "MotherAge",
    "Pregnancy",
    "Vaccination",
]

# The mother's pregnancy and postnatal data describe the start of a child's life; they are
# offered for children under 3, after which other signals speak for the household.
_YOUNG_MONTHS: Final = 36
_PREGNANCY_DAYS: Final = pd.Timedelta(days=310)
_FIRST_YEAR: Final = pd.Timedelta(days=365)
# A mother's screenings at any of her births speak for the household for three years.
_HOUSEHOLD_EPDS_MONTHS: Final = 36


class InfantCheckup(FeatureGroup):
    def __init__(self, inputs: Inputs) -> None:
        super().__init__(inputs)
        rows = inputs.rows("infant_checkup", "target_month", "status")
        self.checkups = Events(
            inputs.codes(rows),
            inputs.month(rows, "target_month"),
            inputs.visible(rows),
            {"missed": (rows["status"] == "missed").to_numpy(dtype=np.float64)},
        )

    def at(self, as_of: AsOf) -> dict[str, np.ndarray]:
        residents, own = as_of.residents.person, as_of.resident_row
        missed = self.checkups.total(residents, as_of.month, "missed")
        return {
            "infant_checkups_due": self.checkups.count(as_of.person, as_of.month),
            "infant_checkups_missed": missed[own],
            "siblings_infant_checkups_missed": siblings_total(
                as_of, missed, self.inputs.n_households
            ),
        }


class Vaccination(FeatureGroup):
    def __init__(self, inputs: Inputs) -> None:
        super().__init__(inputs)
        rows = inputs.rows("vaccination", "due_month", "status")
        self.vaccinations = Events(
            inputs.codes(rows),
            inputs.month(rows, "due_month"),
            inputs.visible(rows),
            {"missed": (rows["status"] == "not_given").to_numpy(dtype=np.float64)},
        )

    def at(self, as_of: AsOf) -> dict[str, np.ndarray]:
        residents, own = as_of.residents.person, as_of.resident_row
        missed = self.vaccinations.total(residents, as_of.month, "missed")
        return {
            "vaccinations_due": self.vaccinations.count(as_of.person, as_of.month),
            "vaccinations_missed": missed[own],
            "siblings_vaccinations_missed": siblings_total(as_of, missed, self.inputs.n_households),
        }


class Birth(FeatureGroup):
    def __init__(self, inputs: Inputs) -> None:
        super().__init__(inputs)
        rows = inputs.rows("birth", "birth_weight_g")
        self.births = Tally.build(
            inputs.codes(rows),
            inputs.visible(rows),
            {"weight": rows["birth_weight_g"].to_numpy(dtype=np.float64)},
        )

    def at(self, as_of: AsOf) -> dict[str, np.ndarray]:
        return {"birth_weight_g": self.births.latest(as_of.person, as_of.month, "weight")}


def mother_links(inputs: Inputs) -> pd.DataFrame:
    """child, mother (codes), birth_date and the month the newborn record became visible."""
    births = inputs.rows("birth", "birth_date", "mother_person_id")
    links = pd.DataFrame(
        {
            "child": inputs.codes(births),
            "mother": inputs.codes(births, "mother_person_id"),
            "birth_date": pd.to_datetime(births["birth_date"]).to_numpy(dtype="datetime64[ns]"),
            "link_visible": inputs.visible(births),
        }
    )
    return links[(links["child"] >= 0) & (links["mother"] >= 0) & links["birth_date"].notna()]


class Pregnancy(FeatureGroup):
    def __init__(self, inputs: Inputs) -> None:
        super().__init__(inputs)
        rows = inputs.rows("pregnancy", "notified_on", "gestational_week")
        notifications = pd.DataFrame(
            {
                "mother": inputs.codes(rows),
                "notified_on": pd.to_datetime(rows["notified_on"]).to_numpy(dtype="datetime64[ns]"),
                "week": rows["gestational_week"].to_numpy(dtype=np.float64),
                "notice_visible": inputs.visible(rows),
            }
        ).dropna(subset=["notified_on"])
        links = mother_links(inputs).sort_values("birth_date")
        # The pregnancy of a birth is the mother's latest notification before it.
        matched = pd.merge_asof(
            links,
            notifications[notifications["mother"] >= 0].sort_values("notified_on"),
            left_on="birth_date",
            right_on="notified_on",
            by="mother",
            direction="backward",
            tolerance=_PREGNANCY_DAYS,
        ).dropna(subset=["week"])
        self.weeks = Tally.build(
            matched["child"].to_numpy(),
            np.maximum(matched["link_visible"], matched["notice_visible"]).to_numpy(),
            {"week": matched["week"].to_numpy(dtype=np.float64)},
        )

    def at(self, as_of: AsOf) -> dict[str, np.ndarray]:
        residents = as_of.residents.person
        age = self.inputs.population.people.age(residents, as_of.month)
        week = self.weeks.latest(residents, as_of.month, "week")
        week = np.where(age < _YOUNG_MONTHS, week, np.nan)
        return {
            "pregnancy_notification_week": week[as_of.resident_row],
            "siblings_pregnancy_notification_week_mean": siblings_mean(
                as_of, week, self.inputs.n_households
            ),
        }


class Epds(FeatureGroup):
    def __init__(self, inputs: Inputs) -> None:
        super().__init__(inputs)
        rows = inputs.rows("epds", "screened_on", "epds_score")
        screenings = pd.DataFrame(
            {
                "mother": inputs.codes(rows),
                "screened_on": pd.to_datetime(rows["screened_on"]).to_numpy(dtype="datetime64[ns]"),
                "score": rows["epds_score"].to_numpy(dtype=np.float64),
                "screen_visible": inputs.visible(rows),
            }
        )
        pairs = mother_links(inputs).merge(screenings[screenings["mother"] >= 0], on="mother")
        after = pairs["screened_on"] - pairs["birth_date"]
        pairs = pairs[(after >= pd.Timedelta(0)) & (after < _FIRST_YEAR)]
        screened = month_index(pairs["screened_on"])
        visible = np.maximum.reduce(
            [
                pairs["link_visible"].to_numpy(),
                pairs["screen_visible"].to_numpy(),
                np.where(screened >= NEVER, NEVER, screened + 1),
            ]
        )
        score = pairs["score"].to_numpy(dtype=np.float64)
        self.scores = Tally.build(
            pairs["child"].to_numpy(),
            visible,
            {"score": score, "highest": score},
            order=pairs["screened_on"].to_numpy(dtype="datetime64[ns]").astype(np.int64),
            running_max=("highest",),
        )

    def at(self, as_of: AsOf) -> dict[str, np.ndarray]:
        young = as_of.age < _YOUNG_MONTHS
        latest = self.scores.latest(as_of.person, as_of.month, "score")
        highest = self.scores.latest(as_of.person, as_of.month, "highest")
        return {
            "mother_epds_latest": np.where(young, latest, np.nan),
            "mother_epds_max": np.where(young, highest, np.nan),
        }


class MotherAge(FeatureGroup):
    """The mother's age at the child's birth, from the registry birth dates of both.

    The mother is the one the newborn record names; a child without a known newborn record
    (born before the records began, or moved in) has no linked mother and the value is NaN.
    """

    def __init__(self, inputs: Inputs) -> None:
        super().__init__(inputs)
        links = mother_links(inputs)
        people = inputs.records.people.drop_duplicates("person_id")
        born = pd.Series(
            pd.to_datetime(people["birth_date"]).to_numpy(dtype="datetime64[ns]"),
            index=inputs.codes(people),
        )
        born = born[born.index >= 0]
        mother_born = pd.DatetimeIndex(born.reindex(links["mother"].to_numpy()))
        child_born = pd.DatetimeIndex(links["birth_date"])
        # Completed years: the year difference, less one before the birthday in that year.
        years = child_born.year - mother_born.year
        early = (child_born.month < mother_born.month) | (
            (child_born.month == mother_born.month) & (child_born.day < mother_born.day)
        )
        age = np.asarray(years - early, dtype=np.float64)
        age[np.asarray(mother_born.isna())] = np.nan
        self.ages = Tally.build(
            links["child"].to_numpy(), links["link_visible"].to_numpy(), {"age": age}
        )

    def at(self, as_of: AsOf) -> dict[str, np.ndarray]:
        return {"mother_age_at_birth_years": self.ages.latest(as_of.person, as_of.month, "age")}


class HouseholdEpds(FeatureGroup):
    """The highest EPDS of any mother registered in the child's household, last 36 months.

    EPDS rows are about the mother, at any of her births (not only this child's): a screening
    counts at T when it happened before T, in the 36 months before T, and was known before T.
    """

    def __init__(self, inputs: Inputs) -> None:
        super().__init__(inputs)
        rows = inputs.rows("epds", "screened_on", "epds_score")
        codes = inputs.codes(rows)
        screened = month_index(pd.to_datetime(rows["screened_on"]))
        score = rows["epds_score"].to_numpy(dtype=np.float64)
        keep = (codes >= 0) & (screened < NEVER) & ~np.isnan(score)
        self.mother = codes[keep]
        self.screened = screened[keep]
        self.visible = np.maximum(inputs.visible(rows)[keep], self.screened + 1)
        self.score = score[keep]

    def at(self, as_of: AsOf) -> dict[str, np.ndarray]:
        month = as_of.month
        usable = (self.visible <= month) & (self.screened >= month - _HOUSEHOLD_EPDS_MONTHS)
        residents = as_of.residents
        position = residents.position(self.mother[usable])
        here = position >= 0
        highest = np.full(self.inputs.n_households, np.nan)
        np.fmax.at(highest, residents.household[position[here]], self.score[usable][here])
        return {"household_mother_epds_max_36m": highest[as_of.household]}
