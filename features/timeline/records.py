"""The point-in-time store's input contract: linked source rows, people and residence spells.

Linkage (名寄せ) decides who a row is about; everything downstream takes its answer as given.
`LinkedRecords` is that answer in the shape feature and label code reads:

- `sources`: per source id (as in `features/ingest/catalogue.yaml`) one frame with `person_id`
  (whom the row is about), `municipality`, `event_date`, `known_date` and the source's canonical
  columns. Dates (and year-months, as their first day) are datetime64; numbers are float64
  (NaN where empty); codes are strings. Rows that name a second person carry that person's id
  too (`RELATED_PERSON_COLUMNS`: the mother of a newborn, the recipient of an allowance).
- `people`: person_id, birth_date, sex, role (child, adult or unknown; other values are kept).
- `residence`: registry residence spells, which give household membership over time.
- `holdings`: per municipality, the data it holds (source ids, plus data elements such as
  `nurse_visits` that a town may leave empty). Features from data the child's municipality
  does not hold are missing, never zero.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Final

import pandas as pd

from features.ingest.catalogue import load_catalogue

__all__ = [
    "OPTIONAL_ELEMENTS",
    "PEOPLE_COLUMNS",
    "RELATED_PERSON_COLUMNS",
    "RESIDENCE_COLUMNS",
    "SOURCE_BASE_COLUMNS",
    "LinkedRecords",
    "LinkedRecordsError",
]

SOURCE_BASE_COLUMNS: Final = ("person_id", "municipality", "event_date", "known_date")
PEOPLE_COLUMNS: Final = ("person_id", "birth_date", "sex", "role")
# resident_until is the registry's 消除日 (empty while the spell is open); household is a key
# that is unique across municipalities (the adapter prefixes the 世帯番号 with the municipality).
RESIDENCE_COLUMNS: Final = (
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
# Secondary ID columns resolved to the person they name: (source, ID column) -> output column.
RELATED_PERSON_COLUMNS: Final[Mapping[str, Mapping[str, str]]] = {
    "birth": {"maternal_record_no": "mother_person_id"},
    "single_parent_allowance": {"recipient_atena_no": "recipient_person_id"},
}
# Data elements a town may leave empty although it delivers the source (catalogue: 保健室来室回数
# "an empty cell means not recorded"): element -> (source, column). A holding unit is a source
# id or one of these.
OPTIONAL_ELEMENTS: Final[Mapping[str, tuple[str, str]]] = {
    "nurse_visits": ("attendance", "nurse_visits"),
}
_DATE_COLUMNS: Final = {
    "people": ("birth_date",),
    "residence": ("resident_from", "resident_until", "known_date"),
}


def _empty_source(source: str, columns: Iterable[str]) -> pd.DataFrame:
    """No rows, but the columns and dtypes the adapter would have given them."""
    spec = load_catalogue().sources.get(source)
    kinds = {c.name: c.type for c in spec.columns.values()} if spec is not None else {}
    names = list(dict.fromkeys([*SOURCE_BASE_COLUMNS, *kinds, *columns]))
    names += list(RELATED_PERSON_COLUMNS.get(source, {}).values())
    return pd.DataFrame({name: pd.Series(dtype=_dtype(name, kinds.get(name))) for name in names})


def _dtype(name: str, kind: str | None) -> str:
    if name in ("event_date", "known_date") or kind in ("date", "year_month"):
        return "datetime64[ns]"
    if kind in ("int", "float"):
        return "float64"
    if kind is not None or name in ("person_id", "municipality") or name.endswith("_person_id"):
        return "str"
    return "float64"


class LinkedRecordsError(ValueError):
    """The records do not follow the contract; the message names the frame and column."""


def _require(frame: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise LinkedRecordsError(f"{what} lacks column(s) {', '.join(missing)}")


def _require_dates(frame: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    for column in columns:
        if not pd.api.types.is_datetime64_any_dtype(frame[column]):
            raise LinkedRecordsError(
                f"{what}.{column} must be datetime64, not {frame[column].dtype}"
            )


@dataclass(frozen=True)
class LinkedRecords:
    """Linked rows of every source, the people they are about, and where those people live."""

    sources: Mapping[str, pd.DataFrame]
    people: pd.DataFrame
    residence: pd.DataFrame
    holdings: Mapping[str, frozenset[str]]
    # Rows the identity map could not place, per source: reported, never guessed.
    unlinked_rows: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _require(self.people, PEOPLE_COLUMNS, "people")
        _require_dates(self.people, _DATE_COLUMNS["people"], "people")
        _require(self.residence, RESIDENCE_COLUMNS, "residence")
        _require_dates(self.residence, _DATE_COLUMNS["residence"], "residence")
        for source, frame in self.sources.items():
            _require(frame, SOURCE_BASE_COLUMNS, f"sources[{source!r}]")
            _require_dates(frame, ("event_date", "known_date"), f"sources[{source!r}]")
            related = RELATED_PERSON_COLUMNS.get(source, {})
            _require(frame, related.values(), f"sources[{source!r}]")

    def __repr__(self) -> str:
        counts = ", ".join(f"{name}={len(frame)}" for name, frame in sorted(self.sources.items()))
        return (
            f"LinkedRecords(people={len(self.people)}, residence={len(self.residence)}, "
            f"municipalities={sorted(self.holdings)}, sources: {counts})"
        )

    def source(self, source: str, columns: Iterable[str] = ()) -> pd.DataFrame:
        """The rows of one source; an empty frame with the asked columns if there are none."""
        frame = self.sources.get(source)
        if frame is not None:
            return frame
        return _empty_source(source, columns)

    def holds(self, municipality: str, unit: str) -> bool:
        return unit in self.holdings.get(municipality, frozenset())

    def only_sources(self, allowed: Iterable[str]) -> LinkedRecords:
        """The same records without the sources not in `allowed` (two-stage screening)."""
        keep = set(allowed)
        return replace(self, sources={k: v for k, v in self.sources.items() if k in keep})

    def about(self, person_ids: Iterable[str]) -> LinkedRecords:
        """Only the rows about (or naming) these people: one partition of the population."""
        wanted = pd.Index(pd.unique(pd.Series(list(person_ids), dtype="str")))

        def rows(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
            mask = frame["person_id"].isin(wanted)
            for column in columns:
                mask |= frame[column].isin(wanted)
            return frame.loc[mask]

        sources = {
            source: rows(frame, *RELATED_PERSON_COLUMNS.get(source, {}).values())
            for source, frame in self.sources.items()
        }
        return replace(
            self,
            sources=sources,
            people=rows(self.people),
            residence=rows(self.residence),
        )
