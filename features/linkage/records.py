"""The linkage input: one row per identity record, that is one local identity in one source.

A child known to the registry under 宛名番号 1234567890 in municipality 990001 is one identity
record; the same child in the school register under 児童生徒番号 7654321 is another. Repeated rows
of one local identity (address spells, school years, several pregnancies) are collapsed by the
adapter that builds the frame, keeping the latest name and the earlier ones in `name_history`.
Fields arrive raw (as the department wrote them); linkage builds display forms and comparison
keys itself, so every adapter stays a plain reader.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "IDENTITY_RECORD_COLUMNS",
    "ID_KINDS",
    "OPTIONAL_COLUMNS",
    "ROLES",
    "SEXES",
    "ColumnSpec",
    "IdentityRecordsError",
    "record_key",
    "text_isin",
    "validate_identity_records",
]

ColumnKind = Literal["text", "code", "date", "text_list"]

# Which kinds of ID one person may hold several of in one municipality (a pupil renumbered at
# junior-high entry) is linkage policy, kept in the linkage settings, not here.
ID_KINDS: Final = ("atena", "pupil", "maternal_record", "child_record")
SEXES: Final = ("M", "F", "U")
ROLES: Final = ("child", "adult", "unknown")


@dataclass(frozen=True)
class ColumnSpec:
    """One input column: its name, what kind of value it holds, and whether it may be empty."""

    name: str
    kind: ColumnKind
    may_be_empty: bool
    description: str
    allowed: tuple[str, ...] = ()


IDENTITY_RECORD_COLUMNS: Final[tuple[ColumnSpec, ...]] = (
    ColumnSpec(
        "record_key",
        "text",
        False,
        "Unique key of the identity record, municipality:source:id_kind:local_id.",
    ),
    ColumnSpec(
        "municipality", "text", False, "全国地方公共団体コード of the holding municipality."
    ),
    ColumnSpec(
        "source", "text", False, "Department extract: registry, school_register, pregnancy, ..."
    ),
    ColumnSpec("id_kind", "code", False, "Kind of the local ID.", ID_KINDS),
    ColumnSpec("local_id", "text", False, "The department's own ID, as written."),
    ColumnSpec("name_kanji", "text", True, "Full name in kanji as received (may hold 外字)."),
    ColumnSpec("name_kana", "text", True, "Full name in kana as received."),
    ColumnSpec("birth_date", "date", True, "Date of birth, NaT when the source has none."),
    ColumnSpec("sex", "code", False, "M, F or U (unknown / not recorded).", SEXES),
    ColumnSpec("address", "text", True, "Address as received, building part included."),
    ColumnSpec(
        "household_key",
        "text",
        True,
        "Registry 世帯番号 scoped by municipality (municipality:世帯番号), else empty.",
    ),
    ColumnSpec("role", "code", False, "child, adult or unknown.", ROLES),
    ColumnSpec("name_history", "text_list", True, "Earlier kanji names as received, oldest first."),
)

OPTIONAL_COLUMNS: Final[tuple[ColumnSpec, ...]] = (
    ColumnSpec(
        "mother_record_key",
        "text",
        True,
        "record_key of the mother's identity record (the 出生 record names the 母子記録番号).",
    ),
    ColumnSpec(
        "name_kana_history",
        "text_list",
        True,
        "Earlier kana names as received, oldest first (a kana-only source shows the old name).",
    ),
)


class IdentityRecordsError(ValueError):
    """The frame does not follow the identity-record schema.

    Messages name columns and row positions only, never values, because the values are
    personal data and errors end up in logs.
    """

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("identity records: " + "; ".join(self.problems))


def record_key(municipality: str, source: str, id_kind: str, local_id: str) -> str:
    """The canonical record_key; the source is part of it because one ID is used by many."""
    return f"{municipality}:{source}:{id_kind}:{local_id}"


def _positions(mask: pd.Series, limit: int = 5) -> str:
    rows = np.flatnonzero(mask.to_numpy())
    shown = ", ".join(str(r) for r in rows[:limit])
    more = f" and {len(rows) - limit} more" if len(rows) > limit else ""
    return f"rows {shown}{more}"


def _as_text(series: pd.Series) -> pd.Series:
    if isinstance(series.dtype, pd.StringDtype):
        return series.fillna("")  # already str: no per-value str() needed
    return series.astype(object).where(series.notna(), "").map(str)


def _as_history(value: object) -> list[str] | None:
    if type(value) is list:  # the common case, checked first
        if not value:
            return []
        if all(type(item) is str for item in value):
            return [item for item in value if item]
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    if isinstance(value, str):
        return None  # a bare string is a schema error, not a one-name list
    if isinstance(value, list | tuple | np.ndarray):
        items = list(value)
        if all(isinstance(item, str) for item in items):
            return [item for item in items if item]
    return None


def text_isin(values: pd.Series, among: pd.Series) -> pd.Series:
    """values.isin(among) for text without missing values, through Arrow's hash set.

    pandas' isin on Arrow-backed strings turns every value of `among` into a Python object
    first, which at half a million record keys took seconds.
    """
    found = pc.is_in(
        pa.array(values.to_numpy(dtype=object), type=pa.string()),
        value_set=pa.array(among.to_numpy(dtype=object), type=pa.string()),
    )
    return pd.Series(found.to_numpy(zero_copy_only=False), index=values.index, dtype=bool)


def _as_dates(series: pd.Series) -> pd.Series | None:
    if pd.api.types.is_datetime64_dtype(series.dtype):
        return series.dt.normalize().astype("datetime64[ns]")

    def convert(value: object) -> object:
        if value is None or value is pd.NaT:
            return pd.NaT
        if isinstance(value, float) and np.isnan(value):
            return pd.NaT
        if isinstance(value, pd.Timestamp | dt.date | np.datetime64):
            return pd.Timestamp(value).normalize()
        raise TypeError

    try:
        converted = series.map(convert)
    except (TypeError, ValueError):
        return None
    return pd.to_datetime(converted).astype("datetime64[ns]")


def validate_identity_records(records: pd.DataFrame) -> pd.DataFrame:
    """Check a frame against the schema and return a canonical copy.

    Text columns come back as str with "" for missing, `birth_date` as datetime64 (NaT where
    unknown), `name_history` as lists of str. Raises IdentityRecordsError listing every problem:
    missing columns, empty required fields, codes outside their allowed values, non-date birth
    dates, malformed histories, duplicate record keys or local identities, dangling
    mother_record_key references.
    """
    missing = [spec.name for spec in IDENTITY_RECORD_COLUMNS if spec.name not in records.columns]
    if missing:
        raise IdentityRecordsError([f"missing columns: {', '.join(missing)}"])

    problems: list[str] = []
    out = pd.DataFrame(index=pd.RangeIndex(len(records)))
    specs = list(IDENTITY_RECORD_COLUMNS) + [
        spec for spec in OPTIONAL_COLUMNS if spec.name in records.columns
    ]
    for spec in specs:
        column = records[spec.name].reset_index(drop=True)
        if spec.kind == "date":
            dates = _as_dates(column)
            if dates is None:
                problems.append(f"{spec.name}: values that are not dates")
                continue
            out[spec.name] = dates
        elif spec.kind == "text_list":
            histories = column.map(_as_history)
            bad = histories.isna()
            if bad.any():
                problems.append(f"{spec.name}: not a list of strings at {_positions(bad)}")
                continue
            out[spec.name] = histories
        else:
            text = _as_text(column).str.strip()
            empty = text == ""
            if not spec.may_be_empty and empty.any():
                problems.append(f"{spec.name}: empty at {_positions(empty)}")
            if spec.allowed:
                unknown = ~empty & ~text.isin(spec.allowed)
                if unknown.any():
                    allowed = ", ".join(spec.allowed)
                    problems.append(
                        f"{spec.name}: values outside ({allowed}) at {_positions(unknown)}"
                    )
            out[spec.name] = text
    if problems:
        raise IdentityRecordsError(problems)

    duplicated_key = out["record_key"].duplicated(keep=False)
    if duplicated_key.any():
        problems.append(f"record_key: duplicated at {_positions(duplicated_key)}")
    identity = ["municipality", "source", "id_kind", "local_id"]
    duplicated_identity = out.duplicated(identity, keep=False)
    if duplicated_identity.any():
        problems.append(
            "one local identity per source expected; repeated at " + _positions(duplicated_identity)
        )
    if "mother_record_key" in out.columns:
        dangling = (out["mother_record_key"] != "") & ~text_isin(
            out["mother_record_key"], out["record_key"]
        )
        if dangling.any():
            problems.append(f"mother_record_key: unknown record at {_positions(dangling)}")
    else:
        out["mother_record_key"] = ""
    if "name_kana_history" not in out.columns:
        out["name_kana_history"] = [[] for _ in range(len(out))]
    if problems:
        raise IdentityRecordsError(problems)
    return out
