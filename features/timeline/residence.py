"""Who lived where, with whom, as known at the start of a month: the population and households.

A registry spell counts at as-of month T when it had begun and had been notified before the
first day of T, and its end (消除日) had not yet happened before that day. The end is read as
known on the day it happened: a later removal cannot shorten what T saw.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd

from features.timeline.months import NEVER, month_index, visible_from
from features.timeline.tally import PersonCodes

__all__ = [
    "ADULT_AGE_MONTHS",
    "PeopleIndex",
    "ResidenceIndex",
    "Snapshot",
    "age_in_months",
]

ADULT_AGE_MONTHS: Final = 18 * 12
# Roles that are never in the child population, whatever the birth date says.
_NOT_CHILD_ROLES: Final = frozenset({"adult", "mother", "father", "partner", "grandparent"})


def age_in_months(birth_month: np.ndarray, birth_day: np.ndarray, as_of: int) -> np.ndarray:
    """Completed months of age on the first day of as-of month T (negative: not yet born)."""
    return as_of - birth_month - (birth_day > 1)


@dataclass(frozen=True)
class PeopleIndex:
    """Birth month and day, sex and role per person code (dense arrays)."""

    birth_month: np.ndarray
    birth_day: np.ndarray
    female: np.ndarray
    may_be_child: np.ndarray

    @classmethod
    def build(cls, people: pd.DataFrame, codes: PersonCodes) -> PeopleIndex:
        n = len(codes)
        birth_month = np.full(n, NEVER, dtype=np.int64)
        birth_day = np.ones(n, dtype=np.int64)
        female = np.zeros(n, dtype=bool)
        may_be_child = np.zeros(n, dtype=bool)
        frame = people.drop_duplicates("person_id")
        code = codes.encode(frame["person_id"])
        ok = code >= 0
        dates = pd.to_datetime(frame["birth_date"])
        birth_month[code[ok]] = month_index(dates)[ok]
        birth_day[code[ok]] = dates.dt.day.fillna(1).astype(np.int64).to_numpy()[ok]
        female[code[ok]] = (frame["sex"].astype("str") == "F").to_numpy()[ok]
        role = frame["role"].astype("str").str.lower()
        may_be_child[code[ok]] = (~role.isin(_NOT_CHILD_ROLES)).to_numpy()[ok]
        return cls(birth_month, birth_day, female, may_be_child)

    def age(self, codes: np.ndarray, as_of: int) -> np.ndarray:
        return age_in_months(self.birth_month[codes], self.birth_day[codes], as_of)


@dataclass(frozen=True)
class Snapshot:
    """Everyone resident at one as-of month, one row per person (sorted by person code)."""

    person: np.ndarray
    household: np.ndarray
    municipality: np.ndarray
    relationship: np.ndarray
    # Month the person first began living in this household (住定日 of the earliest spell there).
    joined: np.ndarray

    def position(self, codes: np.ndarray) -> np.ndarray:
        """Row of each person in the snapshot, or -1 if not resident."""
        at = np.searchsorted(self.person, codes)
        at = np.clip(at, 0, max(len(self.person) - 1, 0))
        found = (len(self.person) > 0) & (self.person[at] == codes)
        return np.where(found, at, -1)


class ResidenceIndex:
    """Residence spells as integer arrays, ready to be cut at any as-of month."""

    def __init__(self, residence: pd.DataFrame, codes: PersonCodes) -> None:
        frame = residence.reset_index(drop=True)
        self.person = codes.encode(frame["person_id"])
        self.households = pd.Index(pd.unique(frame["household"].astype("str")))
        self.household = np.asarray(self.households.get_indexer(frame["household"].astype("str")))
        self.municipalities = pd.Index(sorted(pd.unique(frame["municipality"].astype("str"))))
        self.municipality = np.asarray(
            self.municipalities.get_indexer(frame["municipality"].astype("str"))
        )
        self.relationships = pd.Index(sorted(pd.unique(frame["relationship"].astype("str"))))
        self.relationship = np.asarray(
            self.relationships.get_indexer(frame["relationship"].astype("str"))
        )
        resident_from = pd.to_datetime(frame["resident_from"])
        self.moved_in = month_index(resident_from)
        begun = self.moved_in + 1
        self.start = np.maximum(visible_from(frame["known_date"]), begun)
        ended = month_index(pd.to_datetime(frame["resident_until"])) + 1
        self.end = np.where(ended >= NEVER, NEVER, np.maximum(ended, self.start))
        # When two spells overlap (a move notified before the old one is closed), the later
        # one is where the person lives: spells are kept sorted by person, then start.
        rank = resident_from.to_numpy(dtype="datetime64[ns]").astype(np.int64)
        order = np.lexsort((rank, self.person))
        order = order[self.person[order] >= 0]
        for name in (
            "person",
            "household",
            "municipality",
            "relationship",
            "start",
            "end",
            "moved_in",
        ):
            setattr(self, name, getattr(self, name)[order])

    def relationship_code(self, name: str) -> int:
        return int(self.relationships.get_indexer([name])[0])

    def snapshot(self, as_of: int) -> Snapshot:
        index = np.flatnonzero((self.start <= as_of) & (self.end > as_of))
        person = self.person[index]
        last = np.ones(len(index), dtype=bool)
        last[:-1] = person[1:] != person[:-1]
        index = index[last]
        return Snapshot(
            person=self.person[index],
            household=self.household[index],
            municipality=self.municipality[index],
            relationship=self.relationship[index],
            joined=self._joined(as_of, index),
        )

    def _joined(self, as_of: int, current: np.ndarray) -> np.ndarray:
        """For each current spell, the earliest month its person moved into its household,
        over the spells known at T: a move within the household's address starts a new spell,
        not a new member, and a back-dated spell notified later must not change what T saw."""
        known = np.flatnonzero(self.start <= as_of)
        width = np.int64(len(self.households) + 1)
        key = self.person[known].astype(np.int64) * width + self.household[known]
        order = np.lexsort((self.moved_in[known], key))
        key, earliest = key[order], self.moved_in[known][order]
        first = np.r_[True, key[1:] != key[:-1]]
        key, earliest = key[first], earliest[first]
        wanted = self.person[current].astype(np.int64) * width + self.household[current]
        # Every current spell is itself known, so its key is always found.
        return np.asarray(earliest[np.searchsorted(key, wanted)])
