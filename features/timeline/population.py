"""The rows every feature and label frame shares: each child resident at the start of month T.

A child is in the population at T when, as known before the first day of T, the registry has
them living in a municipality and they were born before that day and are under 18. People whose
role says they are parents (linkage's `adult`) are left out whatever their age.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.timeline.months import as_periods, month_label
from features.timeline.records import LinkedRecords
from features.timeline.residence import ADULT_AGE_MONTHS, PeopleIndex, ResidenceIndex, Snapshot
from features.timeline.tally import PersonCodes

__all__ = ["AsOf", "Population", "person_codes_for"]


def person_codes_for(records: LinkedRecords) -> PersonCodes:
    """Codes for everyone the records mention (subjects, related people, residents)."""
    parts = [records.people["person_id"], records.residence["person_id"]]
    for frame in records.sources.values():
        parts.append(frame["person_id"])
        parts.extend(
            frame[c] for c in frame.columns if c.endswith("_person_id") and c != "person_id"
        )
    return PersonCodes(pd.Index(pd.concat([pd.Series(p, dtype="str") for p in parts])))


@dataclass(frozen=True)
class AsOf:
    """The population at one as-of month T, one entry per child, sorted by person code."""

    month: int
    person: np.ndarray
    age: np.ndarray
    household: np.ndarray
    municipality: np.ndarray
    relationship: np.ndarray
    residents: Snapshot
    # Position of each child among `residents` (to subtract a child's own share of a household).
    resident_row: np.ndarray
    # Which residents are children of the frame (a child's siblings are the others of these).
    resident_child: np.ndarray

    def __len__(self) -> int:
        return len(self.person)


class Population:
    """Who is in the frame at each as-of month, and the registry state around them."""

    def __init__(self, records: LinkedRecords, months: Iterable[str | pd.Period]) -> None:
        self.codes = person_codes_for(records)
        self.people = PeopleIndex.build(records.people, self.codes)
        self.residence = ResidenceIndex(records.residence, self.codes)
        self.months = [p.ordinal for p in as_periods(months)]
        self.as_of = [self._at(month) for month in self.months]

    def _at(self, month: int) -> AsOf:
        residents = self.residence.snapshot(month)
        age = self.people.age(residents.person, month)
        child = (age >= 0) & (age < ADULT_AGE_MONTHS) & self.people.may_be_child[residents.person]
        return AsOf(
            month=month,
            person=residents.person[child],
            age=age[child],
            household=residents.household[child],
            municipality=residents.municipality[child],
            relationship=residents.relationship[child],
            residents=residents,
            resident_row=np.nonzero(child)[0],
            resident_child=child,
        )

    @property
    def size(self) -> int:
        return sum(len(at) for at in self.as_of)

    def keys(self) -> pd.DataFrame:
        """person_id and as_of_month ('YYYY-MM') of every row, in build order."""
        person = np.concatenate([np.empty(0, np.int64), *(at.person for at in self.as_of)])
        month = np.concatenate(
            [np.empty(0, np.int64), *(np.full(len(at), at.month) for at in self.as_of)]
        )
        months, which = np.unique(month, return_inverse=True)
        return pd.DataFrame(
            {
                "person_id": pd.Series(self.codes.ids.take(person), dtype="str"),
                "as_of_month": pd.Series(pd.Index(month_label(months), dtype="str").take(which)),
            }
        )
