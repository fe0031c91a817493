"""Identity records read straight from the departmental CSV extracts (no database needed).

Reads the person-bearing files of each municipality listed in extracts/manifest.json, in the
encoding the manifest gives, and collapses the repeated rows of one local identity (registry
address spells, school years, several pregnancies, several checkups) into one identity record:
the latest name, the earlier names in `name_history`, the latest address. Rows whose ID is empty
or whose date of birth is written but cannot be read are skipped and counted; an empty name is
kept, because the other rows of that identity may carry one. This module only reads and types
the CSV cells; source_identities.py builds the records, as it does for store_adapter.py.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd

from features.linkage.source_identities import (
    Tally,
    assemble_identities,
    birth_identities,
    infant_checkup_identities,
    pregnancy_identities,
    registry_identities,
    school_identities,
)
from features.normalize import (
    DateParseError,
    load_gaiji_map,
    normalize_sex,
    parse_japanese_date,
    parse_year_month,
)

__all__ = [
    "ExtractIdentities",
    "gaiji_maps_from_extracts",
    "identity_records_from_extracts",
    "read_extract_identities",
]

_MANIFEST: Final = "manifest.json"
_GAIJI_MAP: Final = "gaiji_map.csv"
# As catalogue.yaml maps 続柄: stepchildren are children of the household too.
_CHILD_RELATIONS: Final = frozenset({"子", "妻の子", "夫の子"})


@dataclass(frozen=True)
class ExtractIdentities:
    """Identity records plus what was left out: skipped rows per file and other counts."""

    records: pd.DataFrame
    skipped_rows: Mapping[str, int] = field(default_factory=dict)
    notes: Mapping[str, int] = field(default_factory=dict)


def _municipalities(root: Path) -> list[tuple[str, str]]:
    manifest = json.loads((root / _MANIFEST).read_text(encoding="utf-8"))
    return [(str(m["code"]), str(m.get("encoding", "utf-8"))) for m in manifest["municipalities"]]


def gaiji_maps_from_extracts(extracts_root: str | os.PathLike[str]) -> dict[str, dict[str, str]]:
    """Each municipality's 外字 map (extracts/<code>/gaiji_map.csv), keyed by municipality code."""
    root = Path(extracts_root)
    maps: dict[str, dict[str, str]] = {}
    for code, _encoding in _municipalities(root):
        path = root / code / _GAIJI_MAP
        if path.is_file():
            maps[code] = load_gaiji_map(path)
    return maps


def _read_csv(path: Path, encoding: str) -> pd.DataFrame:
    # Everything as text: IDs keep their leading zeros and dates stay in their notation.
    return pd.read_csv(path, dtype=str, keep_default_na=False, encoding=encoding)


def _parse_dates(values: pd.Series, parse: Callable[[str], dt.date]) -> tuple[pd.Series, pd.Series]:
    """Parsed dates (NaT for empty or unreadable) and a mask of written-but-unreadable values."""
    parsed: dict[str, object] = {}
    bad: set[str] = set()
    for text in values.unique().tolist():
        if not text.strip():
            parsed[text] = pd.NaT
            continue
        try:
            parsed[text] = pd.Timestamp(parse(text))
        except (DateParseError, ValueError):
            parsed[text] = pd.NaT
            bad.add(text)
    dates = pd.to_datetime(values.map(parsed)).astype("datetime64[ns]")
    return dates, values.isin(bad)


def _year_month_start(text: str) -> dt.date:
    year, month = parse_year_month(text)
    return dt.date(year, month, 1)


def _sexes(values: pd.Series, tally: Tally) -> pd.Series:
    codes: dict[str, str] = {}
    unreadable = 0
    for text in values.unique().tolist():
        if not text.strip():
            codes[text] = "U"
            continue
        try:
            codes[text] = normalize_sex(text)
        except ValueError:
            codes[text] = "U"
            unreadable += int((values == text).sum())
    tally.note("unreadable_sex", unreadable)
    return values.map(codes)


def _prepare(
    frame: pd.DataFrame,
    *,
    relative: str,
    id_column: str,
    birth_column: str | None,
    order: pd.Series,
    tally: Tally,
) -> tuple[pd.DataFrame, pd.Series]:
    """Drop rows without an ID or with an unreadable birth date; return them and the dates."""
    keep = frame[id_column].str.strip() != ""
    if birth_column is not None:
        births, unreadable = _parse_dates(frame[birth_column], parse_japanese_date)
        keep &= ~unreadable
    else:
        births = pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns]")
    tally.skip(relative, int((~keep).sum()))
    kept = frame[keep].copy()
    kept["local_id"] = kept[id_column].str.strip()
    kept["order"] = order[keep]
    kept["seq"] = np.arange(len(kept))
    return kept, births[keep]


def _registry(root: Path, code: str, encoding: str, tally: Tally) -> pd.DataFrame | None:
    relative = f"{code}/registry/jumin.csv"
    path = root / relative
    if not path.is_file():
        return None
    raw = _read_csv(path, encoding)
    moved_in, _ = _parse_dates(raw["住定日"], parse_japanese_date)
    rows, births = _prepare(
        raw,
        relative=relative,
        id_column="宛名番号",
        birth_column="生年月日",
        order=moved_in,
        tally=tally,
    )
    relation = rows["続柄"].str.strip()
    canonical = rows[["local_id", "order", "seq"]].assign(
        birth_date=births,
        sex=_sexes(rows["性別"], tally),
        role=np.where(
            relation.isin(_CHILD_RELATIONS),
            "child",
            np.where(relation == "", "unknown", "adult"),
        ),
        address=rows["住所"],
        address_building=rows["方書"],
        household_no=rows["世帯番号"],
        name=rows["氏名"],
        name_kana=rows["氏名カナ"],
    )
    changes_relative = f"{code}/registry/shimei_henko.csv"
    changes_path = root / changes_relative
    changes = None
    if changes_path.is_file():
        raw_changes = _read_csv(changes_path, encoding)
        changed_on, _ = _parse_dates(raw_changes["異動日"], parse_japanese_date)
        changes = pd.DataFrame(
            {
                "local_id": raw_changes["宛名番号"].str.strip(),
                "order": changed_on,
                "new_name": raw_changes["新氏名"],
                "new_name_kana": raw_changes["新氏名カナ"],
            }
        )
        empty_id = changes["local_id"] == ""
        tally.skip(changes_relative, int(empty_id.sum()))
        changes = changes[~empty_id]
    return registry_identities(code, canonical, changes, tally)


def _school(root: Path, code: str, encoding: str, tally: Tally) -> pd.DataFrame | None:
    relative = f"{code}/school_register/gakuseki.csv"
    path = root / relative
    if not path.is_file():
        return None
    raw = _read_csv(path, encoding)
    enrolled, _ = _parse_dates(raw["在籍開始日"], parse_japanese_date)
    school_year = pd.to_datetime(
        raw["年度"].str.strip() + "-04-01", errors="coerce", format="%Y-%m-%d"
    )
    order = enrolled.where(enrolled.notna(), school_year)
    rows, births = _prepare(
        raw,
        relative=relative,
        id_column="児童生徒番号",
        birth_column="生年月日",
        order=order,
        tally=tally,
    )
    canonical = rows[["local_id", "order", "seq"]].assign(
        birth_date=births,
        sex=_sexes(rows["性別"], tally),
        address=rows["住所"],
        name=rows["氏名"],
        name_kana=rows["氏名カナ"],
    )
    return school_identities(code, canonical)


def _pregnancy(root: Path, code: str, encoding: str, tally: Tally) -> pd.DataFrame | None:
    relative = f"{code}/pregnancy/ninshin_todokede.csv"
    path = root / relative
    if not path.is_file():
        return None
    raw = _read_csv(path, encoding)
    notified, _ = _parse_dates(raw["届出日"], parse_japanese_date)
    rows, births = _prepare(
        raw,
        relative=relative,
        id_column="母子記録番号",
        birth_column="母生年月日",
        order=notified,
        tally=tally,
    )
    canonical = rows[["local_id", "order", "seq"]].assign(
        mother_birth_date=births,
        address=rows["住所"],
        mother_name=rows["母氏名"],
        mother_name_kana=rows["母氏名カナ"],
    )
    return pregnancy_identities(code, canonical)


def _birth(
    root: Path, code: str, encoding: str, tally: Tally, mothers: set[str]
) -> pd.DataFrame | None:
    relative = f"{code}/birth/shussei.csv"
    path = root / relative
    if not path.is_file():
        return None
    raw = _read_csv(path, encoding)
    registered, _ = _parse_dates(raw["登録日"], parse_japanese_date)
    rows, births = _prepare(
        raw,
        relative=relative,
        id_column="子記録番号",
        birth_column="生年月日",
        order=registered,
        tally=tally,
    )
    canonical = rows[["local_id", "order", "seq"]].assign(
        birth_date=births,
        sex=_sexes(rows["性別"], tally),
        maternal_record_no=rows["母子記録番号"],
        name=rows["子氏名"],
        name_kana=rows["子氏名カナ"],
    )
    return birth_identities(code, canonical, mothers, tally)


def _infant_checkup(root: Path, code: str, encoding: str, tally: Tally) -> pd.DataFrame | None:
    relative = f"{code}/infant_checkup/nyuyoji_kenshin.csv"
    path = root / relative
    if not path.is_file():
        return None
    raw = _read_csv(path, encoding)
    due, _ = _parse_dates(raw["対象年月"], _year_month_start)
    rows, births = _prepare(
        raw,
        relative=relative,
        id_column="子記録番号",
        birth_column="生年月日",
        order=due,
        tally=tally,
    )
    canonical = rows[["local_id", "order", "seq"]].assign(
        birth_date=births, name_kana=rows["子氏名カナ"]
    )
    return infant_checkup_identities(code, canonical)


def read_extract_identities(extracts_root: str | os.PathLike[str]) -> ExtractIdentities:
    """Identity records of every municipality in the manifest, with skip counts per file."""
    root = Path(extracts_root)
    tally = Tally()
    frames: list[pd.DataFrame | None] = []
    for code, encoding in _municipalities(root):
        pregnancy = _pregnancy(root, code, encoding, tally)
        mothers = set(pregnancy["record_key"]) if pregnancy is not None else set()
        frames += [
            _registry(root, code, encoding, tally),
            _school(root, code, encoding, tally),
            pregnancy,
            _birth(root, code, encoding, tally, mothers),
            _infant_checkup(root, code, encoding, tally),
        ]
    return ExtractIdentities(
        records=assemble_identities(frames),
        skipped_rows=dict(sorted(tally.skipped_rows.items())),
        notes=dict(sorted(tally.notes.items())),
    )


def identity_records_from_extracts(extracts_root: str | os.PathLike[str]) -> pd.DataFrame:
    """Identity records read from the extracts; skip counts are in `.attrs["skipped_rows"]`.

    See read_extract_identities for the same data as a typed result.
    """
    result = read_extract_identities(extracts_root)
    records = result.records
    records.attrs["skipped_rows"] = dict(result.skipped_rows)
    records.attrs["notes"] = dict(result.notes)
    return records
