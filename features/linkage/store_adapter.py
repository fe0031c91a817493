"""Identity records read from the ingest store (`source_record`), the way `mimamori link` runs.

Gives the same frame as extract_adapter.py gives from the CSV files, because both hand their
rows to source_identities.py: only the reading differs. Here the cells are the payloads that
ingestion already typed (canonical column names from features/ingest/catalogue.yaml, ISO dates,
sex codes, 続柄 codes), so nothing is parsed twice. Rows ingestion quarantined (an empty
required name, an unreadable date or sex, an exact duplicate) are not in the store, which is
where the two adapters can differ on dirty data; on rows that were loaded they agree. IDs are
NFKC-folded by ingestion (全角 digits are the same ID) and only stripped by the CSV reader, so
an ID written in full-width digits is another difference, absent from the synthetic extracts.

The 外字 maps are not ingested (they are reference tables, not records): use
`gaiji_maps_from_extracts` on the extracts folder.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import pandas as pd
from sqlalchemy import Engine, select

from features.linkage.source_identities import (
    Tally,
    assemble_identities,
    birth_identities,
    infant_checkup_identities,
    pregnancy_identities,
    registry_identities,
    registry_role,
    school_identities,
)
from features.store.models import SourceFile, SourceRecord

__all__ = ["identity_records_from_store", "read_store_identities"]

# Payload columns the identity records need, per source, and the ID kind of the subject.
_FIELDS: Final[dict[str, tuple[str, tuple[str, ...]]]] = {
    "registry": (
        "atena",
        (
            "residence_from",
            "birth_date",
            "sex",
            "relationship",
            "address",
            "address_building",
            "household_no",
            "name",
            "name_kana",
        ),
    ),
    "registry_name_change": ("atena", ("changed_on", "new_name", "new_name_kana")),
    "school_register": (
        "pupil",
        ("enrolled_on", "school_year", "birth_date", "sex", "address", "name", "name_kana"),
    ),
    "pregnancy": (
        "maternal_record",
        ("notified_on", "mother_birth_date", "address", "mother_name", "mother_name_kana"),
    ),
    "birth": (
        "child_record",
        ("registered_on", "birth_date", "sex", "maternal_record_no", "name", "name_kana"),
    ),
    "infant_checkup": ("child_record", ("target_month", "birth_date", "name_kana")),
}
_TEXT: Final = frozenset(
    {
        "address",
        "address_building",
        "household_no",
        "name",
        "name_kana",
        "new_name",
        "new_name_kana",
        "mother_name",
        "mother_name_kana",
        "maternal_record_no",
        "relationship",
    }
)


@dataclass(frozen=True)
class StoreIdentities:
    """Identity records plus counts: rows of another ID kind left out, and notes."""

    records: pd.DataFrame
    skipped_rows: dict[str, int]
    notes: dict[str, int]


def _dates(values: Sequence[Any], pattern: str) -> pd.Series:
    return pd.Series(pd.to_datetime(list(values), format=pattern), dtype="datetime64[ns]")


def _frame(columns: dict[str, list[Any]]) -> pd.DataFrame:
    """Payload columns as the builders want them: text as str, dates as datetime64."""
    frame = pd.DataFrame({"local_id": columns["local_id"]})
    for name, values in columns.items():
        if name == "local_id":
            continue
        if name in _TEXT:
            frame[name] = ["" if v is None else str(v) for v in values]
        elif name == "target_month":
            frame[name] = _dates(values, "%Y-%m")
        elif name in ("school_year", "sex"):
            frame[name] = values
        else:
            frame[name] = _dates(values, "%Y-%m-%d")
    frame["seq"] = np.arange(len(frame))
    return frame


def _ordered(frame: pd.DataFrame, order: pd.Series) -> pd.DataFrame:
    return frame.assign(order=order)


def _read(engine: Engine, tally: Tally) -> dict[tuple[str, str], pd.DataFrame]:
    """Per (municipality, source) the needed payload columns, in file and line order."""
    columns: dict[tuple[str, str], dict[str, list[Any]]] = {}
    statement = (
        select(
            SourceRecord.municipality,
            SourceRecord.source,
            SourceRecord.id_kind,
            SourceRecord.local_id,
            SourceRecord.payload,
        )
        .join(SourceFile, SourceFile.id == SourceRecord.source_file_id)
        .where(SourceRecord.source.in_(list(_FIELDS)))
        .order_by(SourceRecord.municipality, SourceFile.relative_path, SourceRecord.line)
    )
    with engine.connect() as connection:
        result = connection.execution_options(yield_per=20_000).execute(statement)
        for municipality, source, id_kind, local_id, payload in result:
            kind, fields = _FIELDS[source]
            if id_kind != kind:
                tally.skip(f"{municipality}/{source}", 1)
                continue
            bucket = columns.get((municipality, source))
            if bucket is None:
                bucket = {name: [] for name in ("local_id", *fields)}
                columns[(municipality, source)] = bucket
            bucket["local_id"].append(local_id)
            for name in fields:
                bucket[name].append(payload.get(name))
    return {key: _frame(values) for key, values in columns.items()}


def _registry(
    code: str, frames: dict[tuple[str, str], pd.DataFrame], tally: Tally
) -> pd.DataFrame | None:
    rows = frames.get((code, "registry"))
    if rows is None:
        return None
    rows = _ordered(rows, rows["residence_from"]).assign(
        sex=rows["sex"].fillna("U"), role=registry_role(rows["relationship"])
    )
    changes = frames.get((code, "registry_name_change"))
    if changes is not None:
        changes = _ordered(changes, changes["changed_on"])
    return registry_identities(code, rows, changes, tally)


def _school(code: str, frames: dict[tuple[str, str], pd.DataFrame]) -> pd.DataFrame | None:
    rows = frames.get((code, "school_register"))
    if rows is None:
        return None
    school_year = pd.to_datetime(
        rows["school_year"].map(lambda y: f"{y}-04-01" if y is not None else None),
        format="%Y-%m-%d",
        errors="coerce",
    )
    order = rows["enrolled_on"].where(rows["enrolled_on"].notna(), school_year)
    return school_identities(code, _ordered(rows, order).assign(sex=rows["sex"].fillna("U")))


def read_store_identities(engine: Engine) -> StoreIdentities:
    """Identity records of every municipality in the store, with counts of what was left out."""
    tally = Tally()
    frames = _read(engine, tally)
    found: list[pd.DataFrame | None] = []
    for code in sorted({municipality for municipality, _ in frames}):
        pregnancy_rows = frames.get((code, "pregnancy"))
        pregnancy = (
            pregnancy_identities(code, _ordered(pregnancy_rows, pregnancy_rows["notified_on"]))
            if pregnancy_rows is not None
            else None
        )
        mothers = set(pregnancy["record_key"]) if pregnancy is not None else set()
        births = frames.get((code, "birth"))
        checkups = frames.get((code, "infant_checkup"))
        found += [
            _registry(code, frames, tally),
            _school(code, frames),
            pregnancy,
            birth_identities(
                code,
                _ordered(births, births["registered_on"]).assign(sex=births["sex"].fillna("U")),
                mothers,
                tally,
            )
            if births is not None
            else None,
            infant_checkup_identities(code, _ordered(checkups, checkups["target_month"]))
            if checkups is not None
            else None,
        ]
    return StoreIdentities(
        records=assemble_identities(found),
        skipped_rows=dict(sorted(tally.skipped_rows.items())),
        notes=dict(sorted(tally.notes.items())),
    )


def identity_records_from_store(engine: Engine) -> pd.DataFrame:
    """Identity records read from `source_record`; counts are in `.attrs` as from the extracts.

    The store must have been filled by `features.ingest.run.ingest_extracts`.
    """
    result = read_store_identities(engine)
    records = result.records
    records.attrs["skipped_rows"] = dict(result.skipped_rows)
    records.attrs["notes"] = dict(result.notes)
    return records
