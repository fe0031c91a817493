"""Identity records from the rows of the person-bearing sources, whoever read the rows.

Both adapters (extract_adapter.py reads the CSV files, store_adapter.py reads the ingested
`source_record` payloads) turn a source's rows into one frame per source with the catalogue's
canonical column names and typed values, then hand it here. Everything that decides what an
identity record looks like lives in this module, so the two adapters cannot drift apart: the
collapsing of repeated rows of one local identity (registry address spells, school years,
several pregnancies, several checkups) into one record with the latest name, the earlier names
in `name_history` and the latest address.

Every frame given to a builder carries `local_id`, `order` (the date that sorts the rows of one
identity, NaT sorting first) and `seq` (file order, breaking ties in `order`), plus the source's
columns named as in features/ingest/catalogue.yaml. Text columns hold str ("" when empty) and
date columns datetime64.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

import numpy as np
import pandas as pd

from features.linkage.records import record_key, text_isin, validate_identity_records

__all__ = [
    "IDENTITY_COLUMNS",
    "Tally",
    "assemble_identities",
    "birth_identities",
    "infant_checkup_identities",
    "pregnancy_identities",
    "registry_identities",
    "registry_role",
    "school_identities",
]

IDENTITY_COLUMNS: Final = (
    "record_key",
    "municipality",
    "source",
    "id_kind",
    "local_id",
    "name_kanji",
    "name_kana",
    "birth_date",
    "sex",
    "address",
    "household_key",
    "role",
    "name_history",
    "mother_record_key",
    "name_kana_history",
)


@dataclass
class Tally:
    """Rows left out per file (or per source) and other counts worth reporting."""

    skipped_rows: dict[str, int] = field(default_factory=dict)
    notes: dict[str, int] = field(default_factory=dict)

    def skip(self, where: str, count: int) -> None:
        if count:
            self.skipped_rows[where] = self.skipped_rows.get(where, 0) + count

    def note(self, what: str, count: int) -> None:
        if count:
            self.notes[what] = self.notes.get(what, 0) + count


def registry_role(relationship: pd.Series) -> pd.Series:
    """child, adult or unknown from the canonical 続柄 code (catalogue: relationship).

    Stepchildren (妻の子, 夫の子) are children of the household as much as 子 is.
    """
    code = relationship.fillna("").astype(str)
    return pd.Series(
        np.where(code == "child", "child", np.where(code == "", "unknown", "adult")),
        index=relationship.index,
    )


def _blank_to_na(series: pd.Series) -> pd.Series:
    text = series.astype(object)
    if isinstance(series.dtype, pd.StringDtype):
        # Every value is a str or missing: the test runs column-wise, not per value.
        filled = (series.notna() & (series.str.strip() != "")).to_numpy(dtype=bool)
        return text.where(filled, None)
    return text.where(text.map(lambda v: isinstance(v, str) and v.strip() != ""), None)


def _collapse(rows: pd.DataFrame, names: pd.DataFrame) -> pd.DataFrame:
    """One row per local_id: the latest non-empty value of each field, names with history.

    `rows` holds local_id, order, seq and the attribute columns; `names` holds local_id, order,
    seq, name_kanji, name_kana. Ties in `order` fall back to `seq` (file order).
    """
    attributes = rows.sort_values(["local_id", "order", "seq"], na_position="first")
    value_columns = [c for c in attributes.columns if c not in ("local_id", "order", "seq")]
    for column in value_columns:
        if attributes[column].dtype == object or pd.api.types.is_string_dtype(attributes[column]):
            attributes[column] = _blank_to_na(attributes[column])
    latest = attributes.groupby("local_id", sort=True)[value_columns].last()

    events = names.sort_values(["local_id", "order", "seq"], na_position="first")
    spellings_by_id: dict[str, list[tuple[str, str]]] = {}
    for local_id, kanji, kana in zip(
        events["local_id"].tolist(),
        events["name_kanji"].tolist(),
        events["name_kana"].tolist(),
        strict=True,
    ):
        spellings_by_id.setdefault(local_id, []).append((kanji.strip(), kana.strip()))
    name_kanji, name_kana, history, kana_history = [], [], [], []
    for local_id in latest.index:
        spellings = spellings_by_id.get(local_id, [])
        kanji_seen = [kanji for kanji, _ in spellings if kanji]
        current = kanji_seen[-1] if kanji_seen else ""
        name_kanji.append(current)
        history.append(list(dict.fromkeys(k for k in kanji_seen if k != current)))
        # The kana written with the current name, else the latest kana at all: after a
        # surname change an older kana would describe the old name.
        with_current = [kana for kanji, kana in spellings if kana and kanji == current]
        any_kana = [kana for _, kana in spellings if kana]
        name_kana.append(with_current[-1] if with_current else (any_kana[-1] if any_kana else ""))
        kana_history.append(list(dict.fromkeys(k for k in any_kana if k != name_kana[-1])))
    latest["name_kanji"] = name_kanji
    latest["name_kana"] = name_kana
    latest["name_history"] = history
    latest["name_kana_history"] = kana_history
    return latest.reset_index()


def _identity_frame(
    collapsed: pd.DataFrame, municipality: str, source: str, id_kind: str, defaults: dict[str, str]
) -> pd.DataFrame:
    frame = collapsed.copy()
    for column, value in defaults.items():
        if column not in frame.columns:
            frame[column] = value
    frame = frame.fillna({c: "" for c in ("address", "household_key", "mother_record_key")})
    frame["municipality"] = municipality
    frame["source"] = source
    frame["id_kind"] = id_kind
    frame["record_key"] = [record_key(municipality, source, id_kind, v) for v in frame["local_id"]]
    frame["sex"] = frame["sex"].fillna(defaults.get("sex", "U"))
    frame["role"] = frame["role"].fillna(defaults.get("role", "unknown"))
    return frame[list(IDENTITY_COLUMNS)]


def _keys(rows: pd.DataFrame) -> pd.DataFrame:
    return rows[["local_id", "order", "seq"]]


def _names(rows: pd.DataFrame, kanji: str | None, kana: str) -> pd.DataFrame:
    return _keys(rows).assign(
        name_kanji=rows[kanji] if kanji is not None else "", name_kana=rows[kana]
    )


def _stripped(series: pd.Series) -> pd.Series:
    return series.fillna("").astype(str).str.strip()


def registry_identities(
    municipality: str, rows: pd.DataFrame, changes: pd.DataFrame | None, tally: Tally
) -> pd.DataFrame:
    """住民基本台帳: one record per 宛名番号.

    rows: birth_date, sex, role, address, address_building, household_no, name, name_kana.
    changes (氏名変更, may be None): local_id, order, new_name, new_name_kana; a change for a
    宛名番号 the registry rows do not know is counted and dropped.
    """
    building = _stripped(rows["address_building"])
    household = _stripped(rows["household_no"])
    attributes = _keys(rows).assign(
        birth_date=rows["birth_date"],
        sex=rows["sex"],
        address=_stripped(rows["address"]) + np.where(building != "", " " + building, ""),
        household_key=np.where(household != "", municipality + ":" + household, ""),
        role=rows["role"],
    )
    names = _names(rows, "name", "name_kana")
    if changes is not None:
        known = text_isin(changes["local_id"], attributes["local_id"])
        tally.note("name_changes_without_registry_row", int((~known).sum()))
        changes = changes[known]
        # After every registry row, so a change dated the day a spell starts wins the tie.
        names = pd.concat(
            [
                names,
                pd.DataFrame(
                    {
                        "local_id": changes["local_id"],
                        "order": changes["order"],
                        "seq": np.arange(len(changes)) + len(rows),
                        "name_kanji": changes["new_name"],
                        "name_kana": changes["new_name_kana"],
                    }
                ),
            ],
            ignore_index=True,
        )
    return _identity_frame(
        _collapse(attributes, names), municipality, "registry", "atena", {"mother_record_key": ""}
    )


def school_identities(municipality: str, rows: pd.DataFrame) -> pd.DataFrame:
    """学齢簿・学籍: one record per 児童生徒番号.

    rows: birth_date, sex, address, name, name_kana.
    """
    attributes = _keys(rows).assign(
        birth_date=rows["birth_date"],
        sex=rows["sex"],
        address=_stripped(rows["address"]),
        role="child",
    )
    return _identity_frame(
        _collapse(attributes, _names(rows, "name", "name_kana")),
        municipality,
        "school_register",
        "pupil",
        {"household_key": "", "mother_record_key": ""},
    )


def pregnancy_identities(municipality: str, rows: pd.DataFrame) -> pd.DataFrame:
    """妊娠届出: one record per 母子記録番号.

    rows: mother_birth_date, address, mother_name, mother_name_kana.
    """
    attributes = _keys(rows).assign(
        birth_date=rows["mother_birth_date"],
        # A 妊娠届出 is made by the pregnant woman herself.
        sex="F",
        address=_stripped(rows["address"]),
        role="adult",
    )
    return _identity_frame(
        _collapse(attributes, _names(rows, "mother_name", "mother_name_kana")),
        municipality,
        "pregnancy",
        "maternal_record",
        {"household_key": "", "mother_record_key": ""},
    )


def birth_identities(
    municipality: str, rows: pd.DataFrame, mothers: set[str], tally: Tally
) -> pd.DataFrame:
    """出生: one record per 子記録番号, pointing at the mother's 妊娠届出 record when known.

    rows: birth_date, sex, maternal_record_no, name, name_kana. `mothers` holds the record keys
    of the municipality's pregnancy records; a 母子記録番号 outside it is counted and dropped.
    """
    mother_keys = [
        record_key(municipality, "pregnancy", "maternal_record", m) if m else ""
        for m in _stripped(rows["maternal_record_no"])
    ]
    known = [key if key in mothers else "" for key in mother_keys]
    tally.note(
        "births_without_pregnancy_record",
        sum(1 for key, k in zip(mother_keys, known, strict=True) if key and not k),
    )
    attributes = _keys(rows).assign(
        birth_date=rows["birth_date"], sex=rows["sex"], mother_record_key=known, role="child"
    )
    return _identity_frame(
        _collapse(attributes, _names(rows, "name", "name_kana")),
        municipality,
        "birth",
        "child_record",
        {"address": "", "household_key": ""},
    )


def infant_checkup_identities(municipality: str, rows: pd.DataFrame) -> pd.DataFrame:
    """乳幼児健診: one record per 子記録番号. rows: birth_date, name_kana (no kanji, no sex)."""
    attributes = _keys(rows).assign(birth_date=rows["birth_date"], role="child")
    return _identity_frame(
        _collapse(attributes, _names(rows, None, "name_kana")),
        municipality,
        "infant_checkup",
        "child_record",
        {"sex": "U", "address": "", "household_key": "", "mother_record_key": ""},
    )


def assemble_identities(frames: Iterable[pd.DataFrame | None]) -> pd.DataFrame:
    """The validated identity-record frame of every non-empty source frame, in order."""
    kept = [frame for frame in frames if frame is not None and len(frame)]
    if kept:
        records = pd.concat(kept, ignore_index=True)
    else:
        records = pd.DataFrame({column: [] for column in IDENTITY_COLUMNS})
    return validate_identity_records(records)
