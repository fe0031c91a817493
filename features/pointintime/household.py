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
from features.timeline.months import NEVER, school_year_start
from features.timeline.panel import MonthlyPanel
from features.timeline.population import AsOf
from features.timeline.residence import ADULT_AGE_MONTHS
from features.timeline.tally import Tally

__all__ = [
    "Arrears",
    "CareNeed",
    "ChildMaster",
    "Disability",
    "Household",
    "NameChange",
    "Tax",
]

_UNDER_SIX: Final = 72
_MOVES: Final = ("moved_in", "moved_within")
# Japanese school years: 小1 at the April after the 6th birthday (born 2 April - 1 April).
_FIRST_GRADE_AGE: Final = 6
_STAGE_ELEMENTARY: Final = 1
_STAGE_JUNIOR_HIGH: Final = 2
_STAGE_AFTER: Final = 3
# 就学援助 is decided each May (calendar index 4, January = 0) for the school year that began.
_SCHOOL_AID_DECISION: Final = 4
_APRIL: Final = 3
_LAST_GRADE: Final = 9
# A separation is looked for in the last 12 months.
_SEPARATION_WINDOW: Final = 12
_DIVORCE: Final = "divorce"
_UNION: Final = ("marriage", "adoption", "marriage_or_adoption")


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
        calendar = as_of.month % 12  # 0 = January
        # Months until the next May decision (0 in May itself), for a child who will be a pupil
        # (小1-中3) in that May's school year.
        to_decision = (_SCHOOL_AID_DECISION - calendar) % 12
        decision_grade = (
            school_year_start(as_of.month + to_decision) // 12 - cohort - _FIRST_GRADE_AGE
        )
        pupil_then = (decision_grade >= 1) & (decision_grade <= _LAST_GRADE)
        pupil_now = (grade >= 1) & (grade <= _LAST_GRADE)
        # April = 12 school months left (the month T itself counts), March = 1.
        months_left = 12 - (calendar - _APRIL) % 12
        return {
            "age_months": as_of.age.astype(np.float64),
            "school_stage": stage.astype(np.float64),
            "municipality": municipalities[as_of.municipality].astype(object),
            "as_of_month_of_year": np.full(len(as_of), calendar + 1, dtype=np.float64),
            "months_to_school_aid_decision": np.where(pupil_then, float(to_decision), np.nan),
            "school_months_left": np.where(pupil_now, float(months_left), np.nan),
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
        # Spells of a 世帯主 or 配偶者 that ended (消除, 転出, a move): where a parent left from.
        parent = np.isin(index.relationship, [self.head, self.spouse]) & (index.end < NEVER)
        self.parent_spell_person = index.person[parent]
        self.parent_spell_household = index.household[parent]
        self.parent_spell_end = index.end[parent]
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
        # A 世帯主 or 配偶者 who came to live in the household after the child did: a new partner
        # of the parent (a step-parent, 内縁), the registry's plainest trace of one.
        parent_joined = np.full(n, np.iinfo(np.int64).min)
        is_parent = adult & np.isin(relationship, [self.head, self.spouse])
        np.maximum.at(parent_joined, residents.household[is_parent], residents.joined[is_parent])
        own_joined = residents.joined[as_of.resident_row]
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
            "parent_left_household_12m": self._parent_left(as_of),
            "parent_joined_after_child": (parent_joined[household] > own_joined).astype(np.float64),
        }

    def _parent_left(self, as_of: AsOf) -> np.ndarray:
        """1 when a 世帯主 or 配偶者 of the child's household left it in the last 12 months.

        A spell's end counts from the month after it happened (as the registry index reads it);
        a parent whose spell ended but who is registered in the same household at T (a move
        within the town that kept the 世帯) has not left.
        """
        month = as_of.month
        recent = (self.parent_spell_end <= month) & (
            self.parent_spell_end > month - _SEPARATION_WINDOW
        )
        person = self.parent_spell_person[recent]
        household = self.parent_spell_household[recent]
        residents = as_of.residents
        position = residents.position(person)
        stayed = (position >= 0) & (residents.household[np.maximum(position, 0)] == household)
        left = np.zeros(self.inputs.n_households, dtype=bool)
        left[household[~stayed]] = True
        return left[as_of.household].astype(np.float64)

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


class NameChange(FeatureGroup):
    """氏名変更 of any resident of the child's household: for divorce (離婚) in the last year, and
    for a marriage or adoption (婚姻, 養子縁組) since the child was born, the registry's trace of a
    parent who joined the family after the child (a step-parent)."""

    def __init__(self, inputs: Inputs) -> None:
        super().__init__(inputs)
        rows = inputs.rows("registry_name_change", "change_reason", "changed_on")
        reason = rows["change_reason"].astype("str")
        codes = inputs.codes(rows)
        month = inputs.month(rows, "changed_on")
        visible = inputs.visible(rows)
        divorce = (reason == _DIVORCE).to_numpy()
        self.divorces = Events(
            codes[divorce], month[divorce], visible[divorce], windows=(_SEPARATION_WINDOW,)
        )
        union = reason.isin(_UNION).to_numpy()
        self.unions = Events(
            codes[union],
            month[union],
            visible[union],
            {"month": month[union].astype(np.float64)},
            order=month[union],
        )

    def at(self, as_of: AsOf) -> dict[str, np.ndarray]:
        residents = as_of.residents
        n = self.inputs.n_households
        recent = self.divorces.count(residents.person, as_of.month, within=_SEPARATION_WINDOW)
        members = np.bincount(residents.household, weights=recent > 0, minlength=n)
        latest_union = np.full(n, np.nan)
        np.fmax.at(
            latest_union,
            residents.household,
            self.unions.latest(residents.person, as_of.month, "month"),
        )
        birth = self.inputs.population.people.birth_month[as_of.person]
        return {
            "household_divorce_12m": (members[as_of.household] > 0).astype(np.float64),
            "household_union_since_birth": (latest_union[as_of.household] >= birth).astype(
                np.float64
            ),
        }


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
        # The same members' decisions one fiscal year earlier: a fall is a job-loss shock.
        before = self.decisions.latest(residents.person, as_of.month, "bracket", back=1)
        highest_before = np.full(n, np.nan)
        np.fmax.at(highest_before, residents.household, before)
        drop = np.maximum(highest_before - highest, 0.0)
        decided = np.bincount(residents.household, weights=~np.isnan(exempt), minlength=n)
        exempted = np.bincount(residents.household, weights=np.nan_to_num(exempt), minlength=n)
        household = as_of.household
        return {
            "household_income_bracket": highest[household],
            "household_tax_exempt": np.where(
                decided[household] > 0, exempted[household] == decided[household], np.nan
            ),
            "household_income_bracket_drop": drop[household],
        }


_RECENT: Final = 3


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
        # Sums of the monthly 滞納月数 over the household's members, last 3 and 12 months.
        counts = np.where(view.visible, np.nan_to_num(view.grids["months"]), 0.0)
        recent = counts[:, -_RECENT:].sum(axis=1)
        total_3m = np.bincount(residents.household, weights=recent, minlength=n)
        total_12m = np.bincount(residents.household, weights=counts.sum(axis=1), minlength=n)
        household = as_of.household
        return {
            "household_arrears_months_12m": months[household],
            "household_arrears_max_12m": longest[household],
            "household_arrears_sum_3m": total_3m[household],
            "household_arrears_sum_12m": total_12m[household],
        }
