"""Build `LinkedRecords` from ingested rows and an identity map (linkage's answer).

    records = linked_records_from_store(engine, identity_map)

`identity_map` has one row per local identity: municipality, id_kind (atena, pupil,
maternal_record, child_record, household), local_id and person_id; extra columns (linkage's
`source`, `record_key`) are ignored. Rows whose subject the map does not place are dropped and
counted in `LinkedRecords.unlinked_rows`, never attached to a guess.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

import numpy as np
import pandas as pd
from sqlalchemy import Engine, select

from features.ingest.catalogue import Catalogue, SourceSpec, load_catalogue
from features.store.models import SourceFile
from features.timeline.records import OPTIONAL_ELEMENTS, RELATED_PERSON_COLUMNS, LinkedRecords
from features.timeline.stored_rows import (
    BASE_COLUMNS,
    ROW_COLUMNS,
    expand_payloads,
    read_sources,
)

__all__ = [
    "IDENTITY_MAP_COLUMNS",
    "OPTIONAL_ELEMENTS",
    "ROW_COLUMNS",
    "holdings_from_sources",
    "linked_records_from_rows",
    "linked_records_from_store",
    "people_from_sources",
    "residence_from_registry",
]

IDENTITY_MAP_COLUMNS: Final = ("municipality", "id_kind", "local_id", "person_id")
_CHILD_RELATIONSHIPS: Final = ("child", "grandchild")


def _identity_lookup(identity_map: pd.DataFrame) -> pd.Series:
    missing = [c for c in IDENTITY_MAP_COLUMNS if c not in identity_map.columns]
    if missing:
        raise ValueError(f"identity map lacks column(s) {', '.join(missing)}")
    frame = identity_map[list(IDENTITY_MAP_COLUMNS)].astype("str").drop_duplicates()
    key = ["municipality", "id_kind", "local_id"]
    clash = frame.duplicated(key, keep=False)
    if clash.any():
        example = frame.loc[clash, key].iloc[0].tolist()
        raise ValueError(f"identity map places one local identity on two people: {example}")
    return frame.set_index(key)["person_id"]


def _resolve(
    lookup: pd.Series, municipality: pd.Series, kind: str | pd.Series, local_id: pd.Series
) -> pd.Series:
    kinds = kind if isinstance(kind, pd.Series) else pd.Series(kind, index=local_id.index)
    index = pd.MultiIndex.from_arrays(
        [municipality.astype("str"), kinds.astype("str"), local_id.astype("str")]
    )
    position = lookup.index.get_indexer(index)
    values = lookup.to_numpy()[np.maximum(position, 0)]
    return pd.Series(np.where(position >= 0, values, None), index=local_id.index, dtype="str")


def _linked(
    source: str,
    spec: SourceSpec,
    lookup: pd.Series,
    base: pd.DataFrame,
    payload: pd.DataFrame,
) -> pd.DataFrame:
    """Every row of one source in the contract's shape; person_id is NaN where none is known.

    `base` has `BASE_COLUMNS` (dates already datetime64), `payload` the typed catalogue
    columns, both on the same index; `payload` becomes the result.
    """
    frame = payload
    frame.insert(
        0, "person_id", _resolve(lookup, base["municipality"], base["id_kind"], base["local_id"])
    )
    frame.insert(1, "municipality", base["municipality"].astype("str"))
    frame.insert(2, "event_date", base["event_date"])
    frame.insert(3, "known_date", base["known_date"])
    for id_column, person_column in RELATED_PERSON_COLUMNS.get(source, {}).items():
        kind = next(i.kind for i in spec.ids if i.column == id_column)
        frame[person_column] = _resolve(lookup, frame["municipality"], kind, frame[id_column])
    return frame


def _assemble(
    sources: Mapping[str, pd.DataFrame],
    unlinked: Mapping[str, int],
    people: pd.DataFrame | None,
    holdings: Mapping[str, frozenset[str]],
) -> LinkedRecords:
    registry = sources.get("registry")
    if registry is None:
        raise ValueError("no registry rows: the population and households come from them")
    return LinkedRecords(
        sources=sources,
        people=_people(people) if people is not None else people_from_sources(sources),
        residence=residence_from_registry(registry),
        holdings=holdings,
        unlinked_rows=unlinked,
    )


def linked_records_from_rows(
    rows: pd.DataFrame,
    identity_map: pd.DataFrame,
    *,
    catalogue: Catalogue | None = None,
    holdings: Mapping[str, frozenset[str]] | None = None,
    people: pd.DataFrame | None = None,
) -> LinkedRecords:
    """Linked records from loaded rows in the store's long form (`ROW_COLUMNS`).

    `holdings` defaults to what the rows show (`holdings_from_sources`); pass the
    municipalities' own declaration when there is one. `people` defaults to what the
    registry and the birth and school records say (`people_from_sources`).
    """
    catalogue = catalogue or load_catalogue()
    lookup = _identity_lookup(identity_map)
    sources: dict[str, pd.DataFrame] = {}
    delivered: dict[str, pd.DataFrame] = {}
    unlinked: dict[str, int] = {}
    for source, group in rows.groupby("source", sort=True):
        spec = catalogue.sources.get(str(source))
        if spec is None:
            raise ValueError(f"rows of source {source!r}, which the catalogue does not know")
        base = group[list(BASE_COLUMNS)].assign(
            event_date=pd.to_datetime(group["event_date"]),
            known_date=pd.to_datetime(group["known_date"]),
        )
        frame = _linked(str(source), spec, lookup, base, expand_payloads(group, spec))
        linked = frame["person_id"].notna()
        # What a town holds is what it delivered, whether or not linkage placed every row.
        delivered[str(source)] = frame
        unlinked[str(source)] = int((~linked).sum())
        sources[str(source)] = frame.loc[linked].reset_index(drop=True)
    return _assemble(
        sources,
        unlinked,
        people,
        holdings if holdings is not None else holdings_from_sources(delivered),
    )


def linked_records_from_store(
    engine: Engine,
    identity_map: pd.DataFrame,
    *,
    people: pd.DataFrame | None = None,
    sources: Iterable[str] | None = None,
    catalogue: Catalogue | None = None,
) -> LinkedRecords:
    """Linked records from the ingest store's `source_record` table.

    A municipality holds a source when the store has a file of it for that municipality (even
    an empty one); optional elements such as 保健室来室回数 when some cell of theirs is filled.
    `sources` restricts what is read (two-stage screening reads only what it may use).
    The result is what `linked_records_from_rows` makes of the same rows (`stored_rows`),
    read column-wise (`read_sources`) rather than as one Python dict per row.
    """
    catalogue = catalogue or load_catalogue()
    lookup = _identity_lookup(identity_map)
    wanted = None if sources is None else sorted(set(sources) | {"registry"})
    files = select(SourceFile.municipality, SourceFile.source).distinct()
    if wanted is not None:
        files = files.where(SourceFile.source.in_(wanted))
    linked: dict[str, pd.DataFrame] = {}
    unlinked: dict[str, int] = {}
    with engine.connect() as connection:
        held = connection.execute(files).all()
        for source, base, payload in read_sources(connection, catalogue, wanted):
            frame = _linked(source, catalogue.sources[source], lookup, base, payload)
            # Otherwise this source's columns live on while the next source's are built.
            del base, payload
            placed = frame["person_id"].notna()
            unlinked[source] = int((~placed).sum())
            linked[source] = frame if placed.all() else frame.loc[placed].reset_index(drop=True)
    holdings: dict[str, set[str]] = {}
    for municipality, source in held:
        holdings.setdefault(str(municipality), set()).add(str(source))
    for municipality, elements in _filled_elements(linked).items():
        holdings.setdefault(municipality, set()).update(elements)
    return _assemble(linked, unlinked, people, {m: frozenset(s) for m, s in holdings.items()})


def _people(people: pd.DataFrame) -> pd.DataFrame:
    """A person master from linkage (person_id, birth_date, sex, role) in the contract's dtypes."""
    missing = [c for c in ("person_id", "birth_date", "sex", "role") if c not in people.columns]
    if missing:
        raise ValueError(f"people lacks column(s) {', '.join(missing)}")
    return pd.DataFrame(
        {
            "person_id": people["person_id"].astype("str").to_numpy(),
            "birth_date": pd.to_datetime(people["birth_date"]).to_numpy(dtype="datetime64[ns]"),
            "sex": people["sex"].astype("str").to_numpy(),
            "role": people["role"].astype("str").to_numpy(),
        }
    )


def _filled_elements(sources: Mapping[str, pd.DataFrame]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for element, (source, column) in OPTIONAL_ELEMENTS.items():
        frame = sources.get(source)
        if frame is None or column not in frame:
            continue
        filled = frame.loc[frame[column].notna(), "municipality"].unique()
        for municipality in filled:
            out.setdefault(str(municipality), set()).add(element)
    return out


def holdings_from_sources(sources: Mapping[str, pd.DataFrame]) -> dict[str, frozenset[str]]:
    """What each municipality holds, as far as its rows show (a source with no rows is not)."""
    out: dict[str, set[str]] = {}
    for source, frame in sources.items():
        for municipality in frame["municipality"].unique():
            out.setdefault(str(municipality), set()).add(source)
    for municipality, elements in _filled_elements(sources).items():
        out.setdefault(municipality, set()).update(elements)
    return {m: frozenset(s) for m, s in out.items()}


def residence_from_registry(registry: pd.DataFrame) -> pd.DataFrame:
    """Residence spells from registry rows; households keyed by municipality and 世帯番号."""
    return pd.DataFrame(
        {
            "person_id": registry["person_id"].astype("str"),
            "municipality": registry["municipality"].astype("str"),
            "household": registry["municipality"].astype("str")
            + ":"
            + registry["household_no"].astype("str"),
            "relationship": registry["relationship"].astype("str"),
            "resident_from": registry["residence_from"],
            "resident_until": registry["removed_on"],
            "known_date": registry["known_date"],
            "move_reason": registry["move_reason"].astype("str"),
            "nationality": registry["nationality"].astype("str"),
        }
    ).reset_index(drop=True)


def people_from_sources(sources: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """People as the records describe them, when linkage supplies no person master.

    Birth date and sex are the most frequent values over registry, birth and school rows; role
    is child for anyone the registry lists as a child or grandchild of the household (or who
    has a newborn or pupil record), adult for the other registry residents, else unknown.
    """
    frames = []
    for source, child in (("registry", None), ("birth", True), ("school_register", True)):
        frame = sources.get(source)
        if frame is None or frame.empty:
            continue
        is_child = (
            frame["relationship"].isin(_CHILD_RELATIONSHIPS)
            if child is None
            else pd.Series(True, index=frame.index)
        )
        frames.append(
            pd.DataFrame(
                {
                    "person_id": frame["person_id"],
                    "birth_date": frame["birth_date"],
                    "sex": frame["sex"].astype("str"),
                    "is_child": is_child.to_numpy(),
                    "in_registry": source == "registry",
                }
            )
        )
    if not frames:
        return pd.DataFrame(
            {
                "person_id": pd.Series(dtype="str"),
                "birth_date": pd.Series(dtype="datetime64[ns]"),
                "sex": pd.Series(dtype="str"),
                "role": pd.Series(dtype="str"),
            }
        )
    rows = pd.concat(frames, ignore_index=True)
    grouped = rows.groupby("person_id", sort=True)
    birth = _mode(rows, "birth_date")
    sex = _mode(rows, "sex")
    child = grouped["is_child"].any()
    registered = grouped["in_registry"].any()
    role = np.where(child, "child", np.where(registered, "adult", "unknown"))
    return pd.DataFrame(
        {
            "person_id": child.index.astype("str"),
            "birth_date": pd.to_datetime(birth.reindex(child.index)).to_numpy(),
            "sex": sex.reindex(child.index).astype("str").to_numpy(),
            "role": role,
        }
    ).reset_index(drop=True)


def _mode(rows: pd.DataFrame, column: str) -> pd.Series:
    """The most frequent non-empty value of `column` per person (ties: the smallest value)."""
    counts = rows.dropna(subset=[column]).groupby(["person_id", column]).size()
    counts = (
        counts.rename("n")
        .reset_index()
        .sort_values(["person_id", "n", column], ascending=[True, False, True])
    )
    return counts.drop_duplicates("person_id").set_index("person_id")[column]
