"""A hand-built town for tests with known answers: people, residence spells and source rows.

    town = Town()
    town.person("C1", "2014-05-10")
    town.live("C1", "H1", "child", since="2014-05-10")
    town.add("attendance", "C1", "2023-04-01", known="2023-05-10", absence_days=3)
    records = town.records()

Every source frame gets the catalogue's canonical columns with the adapter's dtypes, so the
frames look exactly like `linked_records_from_rows` output.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Final

import pandas as pd

from features.ingest.catalogue import load_catalogue
from features.timeline.adapters import OPTIONAL_ELEMENTS
from features.timeline.records import RELATED_PERSON_COLUMNS, LinkedRecords

TOWN: Final = "990001"


def _typed(values: list[Any], kind: str) -> pd.Series:
    if kind in ("date", "year_month"):
        return pd.Series(pd.to_datetime(pd.Series(values, dtype="object")), dtype="datetime64[ns]")
    if kind in ("int", "float"):
        return pd.Series(values, dtype="float64")
    return pd.Series(values, dtype="str")


class Town:
    def __init__(self, municipality: str = TOWN) -> None:
        self.municipality = municipality
        self.people: list[dict[str, Any]] = []
        self.spells: list[dict[str, Any]] = []
        self.rows: dict[str, list[dict[str, Any]]] = defaultdict(list)

    def person(self, person_id: str, birth: str, *, sex: str = "F", role: str = "child") -> str:
        self.people.append({"person_id": person_id, "birth_date": birth, "sex": sex, "role": role})
        return person_id

    def live(
        self,
        person_id: str,
        household: str,
        relationship: str = "child",
        *,
        since: str,
        until: str | None = None,
        known: str | None = None,
        reason: str = "existing",
        nationality: str = "japanese",
        municipality: str | None = None,
    ) -> None:
        town = municipality or self.municipality
        self.spells.append(
            {
                "person_id": person_id,
                "municipality": town,
                "household": f"{town}:{household}",
                "relationship": relationship,
                "resident_from": since,
                "resident_until": until,
                "known_date": known or since,
                "move_reason": reason,
                "nationality": nationality,
            }
        )

    def add(
        self,
        source: str,
        person_id: str,
        event: str,
        *,
        known: str | None = None,
        municipality: str | None = None,
        **columns: Any,
    ) -> None:
        self.rows[source].append(
            {
                "person_id": person_id,
                "municipality": municipality or self.municipality,
                "event_date": event,
                "known_date": known or event,
                **columns,
            }
        )

    def records(self, holdings: dict[str, frozenset[str]] | None = None) -> LinkedRecords:
        catalogue = load_catalogue()
        sources = {}
        for source, rows in self.rows.items():
            spec = catalogue.sources[source]
            frame = pd.DataFrame(
                {
                    "person_id": pd.Series([r["person_id"] for r in rows], dtype="str"),
                    "municipality": pd.Series([r["municipality"] for r in rows], dtype="str"),
                    "event_date": _typed([r["event_date"] for r in rows], "date"),
                    "known_date": _typed([r["known_date"] for r in rows], "date"),
                }
            )
            for column in spec.columns.values():
                frame[column.name] = _typed([r.get(column.name) for r in rows], column.type)
            for person_column in RELATED_PERSON_COLUMNS.get(source, {}).values():
                frame[person_column] = pd.Series([r.get(person_column) for r in rows], dtype="str")
            sources[source] = frame
        people = pd.DataFrame(
            {
                "person_id": pd.Series([p["person_id"] for p in self.people], dtype="str"),
                "birth_date": _typed([p["birth_date"] for p in self.people], "date"),
                "sex": pd.Series([p["sex"] for p in self.people], dtype="str"),
                "role": pd.Series([p["role"] for p in self.people], dtype="str"),
            }
        )
        residence = pd.DataFrame(
            {
                name: (
                    _typed([s[name] for s in self.spells], "date")
                    if name in ("resident_from", "resident_until", "known_date")
                    else pd.Series([s[name] for s in self.spells], dtype="str")
                )
                for name in (
                    "person_id",
                    "municipality",
                    "household",
                    "relationship",
                    "resident_from",
                    "resident_until",
                    "known_date",
                    "move_reason",
                    "nationality",
                )
            }
        )
        if holdings is None:
            everything = frozenset(catalogue.sources) | frozenset(OPTIONAL_ELEMENTS)
            towns = {s["municipality"] for s in self.spells} | {self.municipality}
            holdings = {town: everything for town in towns}
        return LinkedRecords(sources=sources, people=people, residence=residence, holdings=holdings)
