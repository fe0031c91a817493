"""Identity records read straight from the departmental CSV extracts (no database needed).

Reads the person-bearing files of each municipality listed in extracts/manifest.json, in the
encoding the manifest gives, and collapses the repeated rows of one local identity (registry
address spells, school years, several pregnancies, several checkups) into one identity record:
the latest name, the earlier names in `name_history`, the latest address. Rows whose ID is empty
or whose date of birth is written but cannot be read are skipped and counted; an empty name is
kept, because the other rows of that identity may carry one.
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

from features.linkage.records import record_key, validate_identity_records
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
_CHILD_RELATIONS: Final = frozenset({"子"})


@dataclass(frozen=True)
class ExtractIdentities:
    """Identity records plus what was left out: skipped rows per file and other counts."""

    records: pd.DataFrame
    skipped_rows: Mapping[str, int] = field(default_factory=dict)
    notes: Mapping[str, int] = field(default_factory=dict)


@dataclass
class _Tally:
    skipped_rows: dict[str, int] = field(default_factory=dict)
    notes: dict[str, int] = field(default_factory=dict)

    def skip(self, relative: str, count: int) -> None:
        if count:
            self.skipped_rows[relative] = self.skipped_rows.get(relative, 0) + count

    def note(self, what: str, count: int) -> None:
        if count:
            self.notes[what] = self.notes.get(what, 0) + count


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


def _sexes(values: pd.Series, tally: _Tally) -> pd.Series:
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


def _blank_to_na(series: pd.Series) -> pd.Series:
    text = series.astype(object)
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
    return frame


def _prepare(
    frame: pd.DataFrame,
    *,
    relative: str,
    id_column: str,
    birth_column: str | None,
    order: pd.Series,
    tally: _Tally,
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


def _registry(root: Path, code: str, encoding: str, tally: _Tally) -> pd.DataFrame | None:
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
    building = rows["方書"].str.strip()
    address = rows["住所"].str.strip() + np.where(building != "", " " + building, "")
    relation = rows["続柄"].str.strip()
    attributes = pd.DataFrame(
        {
            "local_id": rows["local_id"],
            "order": rows["order"],
            "seq": rows["seq"],
            "birth_date": births,
            "sex": _sexes(rows["性別"], tally),
            "address": address,
            "household_key": np.where(
                rows["世帯番号"].str.strip() != "", code + ":" + rows["世帯番号"].str.strip(), ""
            ),
            "role": np.where(
                relation.isin(_CHILD_RELATIONS),
                "child",
                np.where(relation == "", "unknown", "adult"),
            ),
        }
    )
    names = rows[["local_id", "order", "seq"]].assign(
        name_kanji=rows["氏名"], name_kana=rows["氏名カナ"]
    )
    changes_relative = f"{code}/registry/shimei_henko.csv"
    changes_path = root / changes_relative
    if changes_path.is_file():
        changes = _read_csv(changes_path, encoding)
        changed_on, _ = _parse_dates(changes["異動日"], parse_japanese_date)
        changes = changes.assign(local_id=changes["宛名番号"].str.strip(), order=changed_on)
        empty_id = changes["local_id"] == ""
        tally.skip(changes_relative, int(empty_id.sum()))
        changes = changes[~empty_id]
        known = changes["local_id"].isin(attributes["local_id"])
        tally.note("name_changes_without_registry_row", int((~known).sum()))
        changes = changes[known]
        # After every jumin row, so a change dated the day of a spell start wins the tie.
        names = pd.concat(
            [
                names,
                pd.DataFrame(
                    {
                        "local_id": changes["local_id"],
                        "order": changes["order"],
                        "seq": np.arange(len(changes)) + len(rows),
                        "name_kanji": changes["新氏名"],
                        "name_kana": changes["新氏名カナ"],
                    }
                ),
            ],
            ignore_index=True,
        )
    collapsed = _collapse(attributes, names)
    return _identity_frame(collapsed, code, "registry", "atena", {"mother_record_key": ""})


def _school(root: Path, code: str, encoding: str, tally: _Tally) -> pd.DataFrame | None:
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
    attributes = pd.DataFrame(
        {
            "local_id": rows["local_id"],
            "order": rows["order"],
            "seq": rows["seq"],
            "birth_date": births,
            "sex": _sexes(rows["性別"], tally),
            "address": rows["住所"].str.strip(),
            "role": "child",
        }
    )
    names = rows[["local_id", "order", "seq"]].assign(
        name_kanji=rows["氏名"], name_kana=rows["氏名カナ"]
    )
    collapsed = _collapse(attributes, names)
    return _identity_frame(
        collapsed, code, "school_register", "pupil", {"household_key": "", "mother_record_key": ""}
    )


def _pregnancy(root: Path, code: str, encoding: str, tally: _Tally) -> pd.DataFrame | None:
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
    attributes = pd.DataFrame(
        {
            "local_id": rows["local_id"],
            "order": rows["order"],
            "seq": rows["seq"],
            "birth_date": births,
            # A 妊娠届出 is made by the pregnant woman herself.
            "sex": "F",
            "address": rows["住所"].str.strip(),
            "role": "adult",
        }
    )
    names = rows[["local_id", "order", "seq"]].assign(
        name_kanji=rows["母氏名"], name_kana=rows["母氏名カナ"]
    )
    collapsed = _collapse(attributes, names)
    return _identity_frame(
        collapsed,
        code,
        "pregnancy",
        "maternal_record",
        {"household_key": "", "mother_record_key": ""},
    )


def _birth(
    root: Path, code: str, encoding: str, tally: _Tally, mothers: set[str]
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
    mother_keys = [
        record_key(code, "pregnancy", "maternal_record", m.strip()) if m.strip() else ""
        for m in rows["母子記録番号"]
    ]
    known = [key if key in mothers else "" for key in mother_keys]
    tally.note(
        "births_without_pregnancy_record",
        sum(1 for key, k in zip(mother_keys, known, strict=True) if key and not k),
    )
    attributes = pd.DataFrame(
        {
            "local_id": rows["local_id"],
            "order": rows["order"],
            "seq": rows["seq"],
            "birth_date": births,
            "sex": _sexes(rows["性別"], tally),
            "mother_record_key": known,
            "role": "child",
        }
    )
    names = rows[["local_id", "order", "seq"]].assign(
        name_kanji=rows["子氏名"], name_kana=rows["子氏名カナ"]
    )
    collapsed = _collapse(attributes, names)
    return _identity_frame(
        collapsed, code, "birth", "child_record", {"address": "", "household_key": ""}
    )


def _infant_checkup(root: Path, code: str, encoding: str, tally: _Tally) -> pd.DataFrame | None:
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
    attributes = pd.DataFrame(
        {
            "local_id": rows["local_id"],
            "order": rows["order"],
            "seq": rows["seq"],
            "birth_date": births,
            "role": "child",
        }
    )
    names = rows[["local_id", "order", "seq"]].assign(name_kanji="", name_kana=rows["子氏名カナ"])
    collapsed = _collapse(attributes, names)
    return _identity_frame(
        collapsed,
        code,
        "infant_checkup",
        "child_record",
        {"sex": "U", "address": "", "household_key": "", "mother_record_key": ""},
    )


_COLUMNS: Final = (
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


def read_extract_identities(extracts_root: str | os.PathLike[str]) -> ExtractIdentities:
    """Identity records of every municipality in the manifest, with skip counts per file."""
    root = Path(extracts_root)
    tally = _Tally()
    frames: list[pd.DataFrame] = []
    for code, encoding in _municipalities(root):
        pregnancy = _pregnancy(root, code, encoding, tally)
        mothers = set(pregnancy["record_key"]) if pregnancy is not None else set()
        for frame in (
            _registry(root, code, encoding, tally),
            _school(root, code, encoding, tally),
            pregnancy,
            _birth(root, code, encoding, tally, mothers),
            _infant_checkup(root, code, encoding, tally),
        ):
            if frame is not None and len(frame):
                frames.append(frame[list(_COLUMNS)])
    if frames:
        records = pd.concat(frames, ignore_index=True)
    else:
        records = pd.DataFrame({column: [] for column in _COLUMNS})
    return ExtractIdentities(
        records=validate_identity_records(records),
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
