"""Child-master and household features: age and stage, who lives with the child, what they need.

Household membership at T is the registry as known before T (features.timeline.residence). A
member's own data (care-need certification, disability certificate, tax decision, arrears) is
read as known before T and summed over the household, leaving the child's own share out where
the feature is about the others.
"""

from __future__ import annotations

from typing import Final

import numpy as np

from features.pointintime.inputs import FeatureGroup, Inputs, household_total
from features.timeline.events import Events
from features.timeline.months import school_year_start
from features.timeline.panel import MonthlyPanel
from features.timeline.population import AsOf
from features.timeline.residence import ADULT_AGE_MONTHS
from features.timeline.tally import Tally

__all__ = ["Arrears", "CareNeed", "ChildMaster", "Disability", "Household", "Tax"]

_UNDER_SIX: Final = 72
_MOVES: Final = ("moved_in", "moved_within")
# Japanese school years: 小1 at the April after the 6th birthday (born 2 April - 1 April).
_FIRST_GRADE_AGE: Final = 6
_STAGE_ELEMENTARY: Final = 1
_STAGE_JUNIOR_HIGH: Final = 2
_STAGE_AFTER: Final = 3


class ChildMaster(FeatureGroup):
    text_columns = frozenset({"municipality"})

    def at(self, as_of: AsOf) -> dict[str, np.ndarray]:
        people = self.inputs.population.people
        birth_month = people.birth_month[as_of.person]
        birth_day = people.birth_day[as_of.person]
        calendar_month = birth_month % 12  # 0 = January, 3 = April
        early = (calendar_month < 3) | ((calendar_month == 3) & (birth_day == 1))
        cohort = birth_month // 12 - early  # years since 1970 of the school cohort
        school_year = school_year_start(as_of.month) // 12
        grade = school_year - cohort - _FIRST_GRADE_AGE
        stage = np.select(
            [grade < 1, grade <= 6, grade <= 9],
            [0, _STAGE_ELEMENTARY, _STAGE_JUNIOR_HIGH],
            _STAGE_AFTER,
        )
        municipalities = self.inputs.population.residence.municipalities.to_numpy()
        return {
            "age_months": as_of.age.astype(np.float64),
            "school_stage": stage.astype(np.float64),
            "municipality": municipalities[as_of.municipality].astype(object),
        }


class Household(FeatureGroup):
    def __init__(self, inputs: Inputs) -> None:
        super().__init__(inputs)
        residence = inputs.records.residence
        index = inputs.population.residence
        self.head = index.relationship_code("head")
        self.spouse = index.relationship_code("spouse")
        self.child = index.relationship_code("child")
        self.grandchild = index.relationship_code("grandchild")
        codes = inputs.codes(residence)
        moves = residence["move_reason"].isin(_MOVES).to_numpy()
        self.moves = Events(
            codes[moves],
            inputs.month(residence, "resident_from")[moves],
            inputs.visible(residence)[moves],
            windows=(12, 24),
        )
        self.nationality = Tally.build(
            codes,
            inputs.visible(residence),
            {"foreign": (residence["nationality"] == "foreign").to_numpy(dtype=np.float64)},
            order=residence["resident_from"].to_numpy(dtype="datetime64[ns]").astype(np.int64),
        )

    def at(self, as_of: AsOf) -> dict[str, np.ndarray]:
        residents = as_of.residents
        n = self.inputs.n_households
        age = self.inputs.population.people.age(residents.person, as_of.month)
        adult = age >= ADULT_AGE_MONTHS
        minor = (age >= 0) & ~adult
        relationship = residents.relationship

        def count(mask: np.ndarray) -> np.ndarray:
            return np.bincount(residents.household[mask], minlength=n)

        parents = count(adult & np.isin(relationship, [self.head, self.spouse]))
        adult_children = count(adult & (relationship == self.child))
        household = as_of.household
        parent_count = np.where(
            as_of.relationship == self.child,
            parents[household],
            np.where(as_of.relationship == self.grandchild, adult_children[household], 0),
        )
        single = np.where(parent_count == 1, 1.0, np.where(parent_count >= 2, 0.0, np.nan))
        own_age = as_of.age
        return {
            "single_parent": single,
            "household_adults": count(adult)[household].astype(np.float64),
            "siblings": (count(minor)[household] - 1).astype(np.float64),
            "siblings_under_6": (
                count(minor & (age < _UNDER_SIX))[household] - (own_age < _UNDER_SIX)
            ).astype(np.float64),
            "youngest_sibling_age_months": self._youngest_other(as_of, age, minor),
            "moves_12m": self.moves.count(as_of.person, as_of.month, within=12),
            "moves_24m": self.moves.count(as_of.person, as_of.month, within=24),
            "foreign_nationality": self.nationality.latest(as_of.person, as_of.month, "foreign"),
        }

    def _youngest_other(self, as_of: AsOf, age: np.ndarray, minor: np.ndarray) -> np.ndarray:
        household = as_of.residents.household[minor]
        ages = age[minor].astype(np.float64)
        if len(ages) == 0:
            return np.full(len(as_of), np.nan)
        order = np.lexsort((ages, household))
        household, ages = household[order], ages[order]
        n = self.inputs.n_households
        first = np.full(n, np.nan)
        second = np.full(n, np.nan)
        starts = np.flatnonzero(np.r_[True, household[1:] != household[:-1]])
        following = np.minimum(starts + 1, len(ages) - 1)
        has_second = (starts + 1 < len(ages)) & (household[following] == household[starts])
        first[household[starts]] = ages[starts]
        second[household[starts[has_second]]] = ages[following[has_second]]
        youngest = first[as_of.household]
        # When the child is itself the youngest, the next youngest (a twin has the same age).
        return np.where(as_of.age > youngest, youngest, second[as_of.household])


class CareNeed(FeatureGroup):
    def __init__(self, inputs: Inputs) -> None:
        super().__init__(inputs)
        rows = inputs.rows("care_need", "certified_on")
        self.certified = Events(
            inputs.codes(rows), inputs.month(rows, "event_date"), inputs.visible(rows)
        )

    def at(self, as_of: AsOf) -> dict[str, np.ndarray]:
        residents = as_of.residents
        has = self.certified.count(residents.person, as_of.month) > 0
        return {
            "household_care_need_members": household_total(as_of, has, self.inputs.n_households)
        }


class Disability(FeatureGroup):
    def __init__(self, inputs: Inputs) -> None:
        super().__init__(inputs)
        rows = inputs.rows("disability", "certificate_kind")
        mental = (rows["certificate_kind"] == "mental").to_numpy(dtype=np.float64)
        self.certificates = Events(
            inputs.codes(rows),
            inputs.month(rows, "event_date"),
            inputs.visible(rows),
            {"mental": mental},
        )

    def at(self, as_of: AsOf) -> dict[str, np.ndarray]:
        residents = as_of.residents
        n = self.inputs.n_households
        has = self.certificates.count(residents.person, as_of.month) > 0
        mental = self.certificates.total(residents.person, as_of.month, "mental") > 0
        return {
            "household_disability_members": household_total(as_of, has, n),
            "household_mental_disability_members": household_total(as_of, mental, n),
            "child_disability": has[as_of.resident_row].astype(np.float64),
        }


class Tax(FeatureGroup):
    def __init__(self, inputs: Inputs) -> None:
        super().__init__(inputs)
        rows = inputs.rows("tax", "fiscal_year", "tax_status", "income_bracket")
        self.decisions = Tally.build(
            inputs.codes(rows),
            inputs.visible(rows),
            {
                "bracket": rows["income_bracket"].to_numpy(dtype=np.float64),
                "exempt": np.where(
                    rows["tax_status"].isna(), np.nan, rows["tax_status"] == "exempt"
                ).astype(np.float64),
            },
            order=rows["fiscal_year"].to_numpy(dtype=np.float64),
        )

    def at(self, as_of: AsOf) -> dict[str, np.ndarray]:
        residents = as_of.residents
        n = self.inputs.n_households
        bracket = self.decisions.latest(residents.person, as_of.month, "bracket")
        exempt = self.decisions.latest(residents.person, as_of.month, "exempt")
        highest = np.full(n, np.nan)
        np.fmax.at(highest, residents.household, bracket)
        decided = np.bincount(residents.household, weights=~np.isnan(exempt), minlength=n)
        exempted = np.bincount(residents.household, weights=np.nan_to_num(exempt), minlength=n)
        household = as_of.household
        return {
            "household_income_bracket": highest[household],
            "household_tax_exempt": np.where(
                decided[household] > 0, exempted[household] == decided[household], np.nan
            ),
        }


class Arrears(FeatureGroup):
    _WINDOW: Final = 12

    def __init__(self, inputs: Inputs) -> None:
        super().__init__(inputs)
        rows = inputs.rows("arrears", "target_month", "months_in_arrears")
        self.panel = MonthlyPanel(
            inputs.codes(rows),
            inputs.month(rows, "target_month"),
            inputs.visible(rows),
            {"months": rows["months_in_arrears"].to_numpy(dtype=np.float64)},
        )

    def at(self, as_of: AsOf) -> dict[str, np.ndarray]:
        residents = as_of.residents
        n = self.inputs.n_households
        width = self._WINDOW
        view = self.panel.view(residents.person, as_of.month, width)
        # The extract lists months in arrears only: a held source without a row means none.
        cells = residents.household[:, None] * width + np.arange(width)[None, :]
        flagged = np.bincount(cells[view.visible], minlength=n * width) > 0
        months = flagged.reshape(n, width).sum(axis=1).astype(np.float64)
        longest = np.zeros(n)
        member_max = np.nanmax(
            np.where(view.visible, view.grids["months"], 0.0), axis=1, initial=0.0
        )
        np.maximum.at(longest, residents.household, member_max)
        household = as_of.household
        return {
            "household_arrears_months_12m": months[household],
            "household_arrears_max_12m": longest[household],
        }
