"""Read one departmental extract file into canonical rows and quarantined rows.

Every physical line is accounted for: a data record is either loaded or quarantined with its
line number and a reason, so `rows_read == loaded + quarantined` holds per file. Blank lines
are not records and are skipped. Names, kana and addresses are kept exactly as received
(linkage normalises them); quarantine details never carry them.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import functools
import hashlib
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator, KeysView
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Final

from features.ingest.catalogue import ColumnSpec, Encoding, IdKind, SourceSpec, header_key
from features.normalize.codes import normalize_sex
from features.normalize.dates import DateParseError, parse_japanese_date, parse_year_month

__all__ = [
    "FileRead",
    "JsonValue",
    "LoadedRow",
    "LoadedValues",
    "QuarantineReason",
    "QuarantinedRow",
    "SourceFileReader",
    "decode_lines",
    "read_source_file",
]

JsonValue = str | int | float | None

# Quarantine details are for an operator to find the line, not to copy the record.
_DETAIL_CHARS: Final = 1000
_FIELD_CHARS: Final = 40
_VALUE_EXCERPT_CHARS: Final = 32
# A column can hold a name when a row is shifted, so only text that cannot be a name is ever
# echoed: ASCII IDs and numbers with a digit (not romaji names), and dates in any notation.
_SAFE_TOKEN: Final = re.compile(r"[0-9A-Za-z.,/:+\-]*[0-9][0-9A-Za-z.,/:+\-]*")
_DATE_LIKE: Final = re.compile(
    r"[0-9０-９A-Za-zＡ-Ｚａ-ｚ./\-／．－:：年月日元明治大正昭和平成令 　〇一二三四五六七八九十]*"
)
# DateParseError reasons that mean "not a date at all" rather than "a date that cannot exist".
_UNPARSEABLE_DATE_REASONS: Final = ("unrecognised", "empty", "malformed", "not a string")


class QuarantineReason(StrEnum):
    BROKEN_ENCODING = "broken_encoding"
    MALFORMED_QUOTE = "malformed_quote"
    WRONG_FIELD_COUNT = "wrong_field_count"
    MISSING_COLUMN = "missing_column"
    DUPLICATE_ROW = "duplicate_row"
    MISSING_REQUIRED = "missing_required"
    IMPOSSIBLE_DATE = "impossible_date"
    UNPARSEABLE_VALUE = "unparseable_value"
    OUT_OF_RANGE = "out_of_range"
    FUTURE_DATE = "future_date"


@dataclass(frozen=True, slots=True)
class LoadedRow:
    """One record in canonical form. `payload` maps canonical column names to JSON values."""

    line: int
    id_kind: IdKind
    local_id: str
    event_date: dt.date
    known_date: dt.date
    payload: dict[str, JsonValue]


# LoadedRow's fields in order, without the object: (line, id_kind, local_id, event_date,
# known_date, payload).
LoadedValues = tuple[int, IdKind, str, dt.date, dt.date, dict[str, JsonValue]]


@dataclass(frozen=True, slots=True)
class QuarantinedRow:
    """A record that was not loaded. `message` and `redacted` never hold names or addresses."""

    file: str  # path relative to the extracts root
    line: int
    reason: QuarantineReason
    message: str
    redacted: str


@dataclass
class FileRead:
    """The outcome of reading one file, collected in memory (tests and small files)."""

    relative_path: str
    source: str
    encoding: str
    rows_read: int
    loaded: list[LoadedRow]
    quarantined: list[QuarantinedRow]
    missing_optional_columns: tuple[str, ...]
    unmapped_columns: tuple[str, ...]

    def reasons(self) -> Counter[str]:
        return Counter(row.reason.value for row in self.quarantined)


def decode_lines(data: bytes, encoding: Encoding) -> tuple[str, list[str], list[bool]]:
    """Split raw bytes into physical lines and decode each; report which lines were broken.

    Splitting happens on bytes, before decoding: in both UTF-8 and CP932 the bytes CR and LF
    never occur inside a multi-byte character, and one broken line must not take its
    neighbours with it. A broken line is decoded with U+FFFD replacements and flagged.
    Returns the encoding used, the lines (line ends kept, for the csv module) and the flags.
    """
    raw_lines = data.splitlines(keepends=True)
    chosen = _detect_encoding(data, raw_lines) if encoding == "detect" else encoding
    lines: list[str] = []
    broken: list[bool] = []
    for raw in raw_lines:
        try:
            lines.append(raw.decode(chosen))
            broken.append(False)
        except UnicodeDecodeError:
            lines.append(raw.decode(chosen, errors="replace"))
            broken.append(True)
    if chosen == "utf-8" and lines and lines[0].startswith("\ufeff"):
        lines[0] = lines[0][1:]
    return chosen, lines, broken


def _detect_encoding(data: bytes, raw_lines: list[bytes]) -> str:
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8"
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        return "utf-8"
    # Some line is not UTF-8. CP932 text almost never passes as UTF-8 line by line, whereas
    # UTF-8 text often passes as (garbled) CP932, so vote with UTF-8: a file where most
    # non-ASCII lines are valid UTF-8 is UTF-8 with a few broken lines.
    non_ascii = [raw for raw in raw_lines if not raw.isascii()]
    valid_utf8 = sum(1 for raw in non_ascii if _decodes(raw, "utf-8"))
    return "utf-8" if valid_utf8 * 2 >= len(non_ascii) else "cp932"


def _decodes(raw: bytes, encoding: str) -> bool:
    try:
        raw.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class _Record:
    first_line: int  # 1-based physical line where the record starts
    last_line: int
    fields: list[str] | None  # None when the csv module refused the record
    error: str | None = None


def _records(lines: list[str], expected_fields: Callable[[], int | None]) -> Iterator[_Record]:
    """CSV records with their physical line span, resynchronising after a stray quote.

    An unclosed quote makes the csv module swallow the following lines into one field. When a
    record spans several lines and has the wrong number of fields (or the csv module gives
    up), only its first line is reported and reading resumes on the next line, so one bad
    quote costs one row, not the rest of the file.
    """
    total = len(lines)
    # The reader counts the lines it took (line_num), so a record's span needs no Python-level
    # line iterator; restarting at `base` indexes the list instead of copying or skipping it.
    base = 0
    reader = csv.reader(iter(lines), strict=True)
    while base + reader.line_num < total:
        start = base + reader.line_num
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            yield _Record(start + 1, start + 1, None, str(error))
            base = start + 1
            reader = csv.reader(map(lines.__getitem__, range(base, total)), strict=True)
            continue
        end = base + reader.line_num
        expected = expected_fields()
        if end - start > 1 and expected is not None and not _fits(fields, expected):
            yield _Record(start + 1, start + 1, None, "quoted field runs over the line end")
            base = start + 1
            reader = csv.reader(map(lines.__getitem__, range(base, total)), strict=True)
            continue
        yield _Record(start + 1, end, fields)


def _fits(fields: list[str], expected: int) -> bool:
    # Some exports end every data line with a comma the header lacks; empty extras are harmless.
    if len(fields) == expected:
        return True
    return len(fields) > expected and not any(value.strip() for value in fields[expected:])


@dataclass(frozen=True, slots=True)
class _Column:
    header: str
    index: int | None  # position in the file, None when the column is absent
    spec: ColumnSpec
    is_id: bool


class _CellError(Exception):
    """One cell's problem; collected per row, never raised out of the reader."""

    def __init__(self, reason: QuarantineReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


_Convert = Callable[[str], JsonValue]
_Cache = dict[str, "JsonValue | _CellError"]


def _is_safe_text(value: str) -> bool:
    """Whether a cell may appear in a quarantine record: an ID, a number or a date, no more."""
    text = value.strip()
    if not text or _SAFE_TOKEN.fullmatch(text):
        return True
    # Dates must carry a digit or 年, so that a kanji name made of era characters (大和,
    # 昭平) is not mistaken for one.
    return bool(_DATE_LIKE.fullmatch(text)) and any(ch.isdigit() or ch == "年" for ch in text)


def _excerpt(value: str) -> str:
    if not _is_safe_text(value):
        return "(value withheld)"
    text = value if len(value) <= _VALUE_EXCERPT_CHARS else value[:_VALUE_EXCERPT_CHARS] + "…"
    return repr(text)


class SourceFileReader:
    """Streams one file's rows: `for row in reader.rows()` yields LoadedRow or QuarantinedRow.

    Counts (`rows_read`, `loaded`, `quarantined`, `reasons`) are complete once `rows()` is
    exhausted. `today` is the run date: dates after it are quarantined as `future_date`.
    """

    def __init__(
        self,
        data: bytes,
        spec: SourceSpec,
        *,
        source: str,
        relative_path: str,
        today: dt.date,
    ) -> None:
        self.spec = spec
        self.source = source
        self.relative_path = relative_path
        self.today = today
        self.encoding, self._lines, self._broken = decode_lines(data, spec.encoding)
        self.rows_read = 0
        self.loaded = 0
        self.quarantined = 0
        self.reasons: Counter[str] = Counter()
        self.missing_optional_columns: tuple[str, ...] = ()
        self.unmapped_columns: tuple[str, ...] = ()
        self._header: list[str] | None = None
        self._columns: list[_Column] = []
        self._missing_required: list[str] = []
        self._id_names = {id_spec.column for id_spec in spec.ids}
        self._personal_positions: set[int] = set()
        self._mapped_positions: set[int] = set()
        self._labels: dict[int, KeysView[str]] = {}
        self._plan: list[tuple[str, int | None, bool, str, _Convert | None, _Cache | None]] = []
        self._id_order = [(id_spec.kind, id_spec.column) for id_spec in spec.ids]
        self._enum_lookups = {
            column.name: {header_key(k): v for k, v in column.values.items()}
            for column in spec.columns.values()
            if column.values is not None
        }
        self._started = False
        # Canonical date text -> date: a file holds few distinct dates and many rows.
        self._dates: dict[JsonValue, dt.date] = {}
        self._lag = dt.timedelta(days=spec.known_date.lag_days or 0)

    # -- header -------------------------------------------------------------------------------

    def _expected_fields(self) -> int | None:
        return None if self._header is None else len(self._header)

    def _set_header(self, header: list[str]) -> None:
        self._header = header
        positions: dict[str, int] = {}
        for position, name in enumerate(header):
            positions.setdefault(header_key(name), position)
        catalogued = {header_key(h) for h in self.spec.columns}
        self._columns = []
        missing_optional: list[str] = []
        for catalogue_header, spec in self.spec.columns.items():
            index = positions.get(header_key(catalogue_header))
            if index is None:
                if spec.required:
                    self._missing_required.append(f"{catalogue_header} ({spec.name})")
                else:
                    missing_optional.append(catalogue_header)
            self._columns.append(
                _Column(catalogue_header, index, spec, spec.name in self._id_names)
            )
        self.missing_optional_columns = tuple(missing_optional)
        self.unmapped_columns = tuple(
            name for name in header if header_key(name) not in catalogued and name.strip()
        )
        self._personal_positions = {
            c.index for c in self._columns if c.index is not None and c.spec.personal
        }
        self._mapped_positions = {c.index for c in self._columns if c.index is not None}
        self._labels = {
            c.index: self._enum_lookups[c.spec.name].keys()
            for c in self._columns
            if c.index is not None and c.spec.name in self._enum_lookups
        }
        self._plan = [
            (
                c.spec.name,
                c.index,
                c.spec.required,
                f"{c.header} ({c.spec.name})",
                *self._converter(c),
            )
            for c in self._columns
        ]

    # -- rows ---------------------------------------------------------------------------------

    def rows(self) -> Iterator[LoadedRow | QuarantinedRow]:
        for outcome in self.row_values():
            yield LoadedRow(*outcome) if isinstance(outcome, tuple) else outcome

    def row_values(self) -> Iterator[LoadedValues | QuarantinedRow]:
        """Like `rows()`, with a loaded row as the plain tuple of LoadedRow's fields.

        Bulk loading wants the values, not an object per row: at millions of rows the frozen
        dataclass alone costs seconds.
        """
        if self._started:
            raise RuntimeError("rows() can be iterated once per reader")
        self._started = True
        seen: set[bytes] = set()
        for record in _records(self._lines, self._expected_fields):
            broken = any(self._broken[record.first_line - 1 : record.last_line])
            if self._header is None:
                if record.fields == []:
                    continue
                # A header the csv module refuses maps no column: every row is then
                # quarantined as missing_column, naming the required columns.
                self._set_header(record.fields or [])
                continue
            if record.fields == []:
                continue  # blank line: not a record
            self.rows_read += 1
            outcome = self._row(record, broken, seen)
            if isinstance(outcome, tuple):
                self.loaded += 1
            else:
                self.quarantined += 1
                self.reasons[outcome.reason.value] += 1
            yield outcome

    def _row(
        self, record: _Record, broken: bool, seen: set[bytes]
    ) -> LoadedValues | QuarantinedRow:
        line = record.first_line
        fields = record.fields
        expected = len(self._header or ())
        if self._missing_required:
            return QuarantinedRow(
                self.relative_path,
                line,
                QuarantineReason.MISSING_COLUMN,
                "required column missing from the file: " + ", ".join(self._missing_required),
                self._redact_aligned(fields)
                if fields is not None and not broken and _fits(fields, expected)
                else _redact_tokens(fields or self._lines[line - 1].rstrip("\r\n").split(",")),
            )
        if fields is None:
            raw = self._lines[line - 1].rstrip("\r\n")
            return QuarantinedRow(
                self.relative_path,
                line,
                QuarantineReason.BROKEN_ENCODING if broken else QuarantineReason.MALFORMED_QUOTE,
                f"bytes not valid in {self.encoding}"
                if broken
                else f"malformed quoting: {record.error}",
                _redact_tokens(raw.split(",")),
            )
        if broken:
            return QuarantinedRow(
                self.relative_path,
                line,
                QuarantineReason.BROKEN_ENCODING,
                f"bytes not valid in {self.encoding}",
                _redact_tokens(fields),
            )
        if not _fits(fields, expected):
            return QuarantinedRow(
                self.relative_path,
                line,
                QuarantineReason.WRONG_FIELD_COUNT,
                f"{len(fields)} fields where the header has {expected}",
                _redact_tokens(fields),
            )
        digest = hashlib.blake2b("\x1f".join(fields).encode(), digest_size=16).digest()
        if digest in seen:
            return QuarantinedRow(
                self.relative_path,
                line,
                QuarantineReason.DUPLICATE_ROW,
                "exact duplicate of an earlier row in this file",
                self._redact_aligned(fields),
            )
        seen.add(digest)
        return self._typed_row(line, fields)

    def _typed_row(self, line: int, fields: list[str]) -> LoadedValues | QuarantinedRow:
        payload: dict[str, JsonValue] = {}
        problems: list[_CellError] = []
        for name, index, required, where, convert, cache in self._plan:
            raw = "" if index is None else fields[index]
            if not raw or raw.isspace():
                payload[name] = None
                if required:
                    problems.append(
                        _CellError(QuarantineReason.MISSING_REQUIRED, f"{where} is empty")
                    )
                continue
            if cache is None:
                payload[name] = raw if convert is None else convert(raw)
                continue
            # Inlined rather than a memoising wrapper: this runs once per cell.
            # A converted value is never None (the cell is not empty), so None means not seen.
            result = cache.get(raw)
            if result is None and convert is not None:
                try:
                    result = convert(raw)
                except _CellError as problem:
                    result = problem
                cache[raw] = result
            if isinstance(result, _CellError):
                problems.append(result)
            else:
                payload[name] = result
        subject: tuple[IdKind, str] | None = None
        for kind, name in self._id_order:
            value = payload[name]
            if isinstance(value, str):
                subject = (kind, value)
                break
        if subject is None:
            headers = " or ".join(self.spec.header_of(name) for _, name in self._id_order)
            problems.append(
                _CellError(QuarantineReason.MISSING_REQUIRED, f"no ID: {headers} empty")
            )
        if problems:
            return QuarantinedRow(
                self.relative_path,
                line,
                problems[0].reason,
                "; ".join(problem.message for problem in problems),
                self._redact_aligned(fields),
            )
        assert subject is not None
        dates = self._dates
        event_text = payload[self.spec.event_date]
        event_date = dates.get(event_text)
        if event_date is None:
            event_date = dates[event_text] = _as_date(event_text)
        known = self.spec.known_date
        if known.column is not None:
            known_text = payload[known.column]
            known_date = dates.get(known_text)
            if known_date is None:
                known_date = dates[known_text] = _as_date(known_text)
        else:
            known_date = event_date + self._lag
        return (line, subject[0], subject[1], event_date, known_date, payload)

    # -- cells --------------------------------------------------------------------------------

    def _converter(self, column: _Column) -> tuple[_Convert | None, _Cache | None]:
        """How a non-empty cell becomes its canonical value: a function and its memo.

        No function means the text is kept as received; a memo means each distinct text is
        converted once (dates, codes and IDs repeat heavily within a file), its value or its
        _CellError remembered.
        """
        spec = column.spec
        if spec.type == "str":
            if column.is_id:
                return _normalise_id, {}
            # Names, kana and addresses are kept byte for byte; linkage normalises them.
            return (None, None) if spec.personal else (str.strip, None)
        return functools.partial(self._convert, column), {}

    def _convert(self, column: _Column, raw: str) -> JsonValue:
        spec = column.spec
        where = f"{column.header} ({spec.name})"
        text = raw.strip()
        if spec.type in ("int", "float"):
            number = _number(text, spec.type)
            if number is None:
                raise _CellError(
                    QuarantineReason.UNPARSEABLE_VALUE, f"{where}: not a number {_excerpt(text)}"
                )
            if (spec.minimum is not None and number < spec.minimum) or (
                spec.maximum is not None and number > spec.maximum
            ):
                raise _CellError(
                    QuarantineReason.OUT_OF_RANGE,
                    f"{where}: {number} outside [{spec.minimum}, {spec.maximum}]",
                )
            return number
        if spec.type == "date":
            try:
                date = parse_japanese_date(text)
            except DateParseError as error:
                unparseable = error.reason.startswith(_UNPARSEABLE_DATE_REASONS)
                raise _CellError(
                    QuarantineReason.UNPARSEABLE_VALUE
                    if unparseable
                    else QuarantineReason.IMPOSSIBLE_DATE,
                    f"{where}: {error.reason} {_excerpt(text)}",
                ) from None
            if not spec.allow_future and date > self.today:
                raise _CellError(
                    QuarantineReason.FUTURE_DATE,
                    f"{where}: {date.isoformat()} is after the run date {self.today.isoformat()}",
                )
            return date.isoformat()
        if spec.type == "year_month":
            try:
                year, month = parse_year_month(text)
            except DateParseError as error:
                unparseable = error.reason.startswith(_UNPARSEABLE_DATE_REASONS)
                raise _CellError(
                    QuarantineReason.UNPARSEABLE_VALUE
                    if unparseable
                    else QuarantineReason.IMPOSSIBLE_DATE,
                    f"{where}: {error.reason} {_excerpt(text)}",
                ) from None
            if not spec.allow_future and (year, month) > (self.today.year, self.today.month):
                raise _CellError(
                    QuarantineReason.FUTURE_DATE,
                    f"{where}: {year:04d}-{month:02d} is after the run date "
                    f"{self.today.isoformat()}",
                )
            return f"{year:04d}-{month:02d}"
        if spec.type == "sex":
            try:
                return normalize_sex(text)
            except ValueError:
                raise _CellError(
                    QuarantineReason.UNPARSEABLE_VALUE, f"{where}: unknown sex {_excerpt(text)}"
                ) from None
        # enum
        code = self._enum_lookups[spec.name].get(header_key(text), spec.fallback)
        if code is None:
            raise _CellError(
                QuarantineReason.UNPARSEABLE_VALUE, f"{where}: unknown value {_excerpt(text)}"
            )
        return code

    # -- redaction ----------------------------------------------------------------------------

    def _redact_aligned(self, fields: list[str]) -> str:
        """The row as CSV with names and addresses replaced by their header (<氏名>).

        Other cells are shown only when they are IDs, numbers, dates or a listed category of
        their column, since a shifted row can put a name anywhere.
        """
        header = self._header or []
        out = []
        for index, value in enumerate(fields):
            if not value.strip():
                out.append(value)
            elif index in self._personal_positions:
                out.append(f"<{header[index]}>")
            elif index not in self._mapped_positions:
                # Unknown columns may hold free text (備考) about a person.
                out.append("<unmapped>")
            elif _is_safe_text(value) or header_key(value) in self._labels.get(index, ()):
                out.append(value if len(value) <= _FIELD_CHARS else value[:_FIELD_CHARS] + "…")
            else:
                out.append("<redacted>")
        return _join(out)


def _normalise_id(raw: str) -> str:
    # IDs are compared exactly in linkage; full-width digits are the same ID.
    return unicodedata.normalize("NFKC", raw).strip()


def _redact_tokens(tokens: list[str]) -> str:
    """Redact a row whose columns cannot be trusted: keep only ID-, number- and date-like text."""
    return _join([token if _is_safe_text(token) else "<redacted>" for token in tokens])


def _join(values: list[str]) -> str:
    text = ",".join(values)
    return text if len(text) <= _DETAIL_CHARS else text[:_DETAIL_CHARS] + "…"


def _number(text: str, kind: str) -> int | float | None:
    folded = unicodedata.normalize("NFKC", text).replace(",", "").strip()
    try:
        if kind == "int":
            return int(folded)
        value = float(folded)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _as_date(value: JsonValue) -> dt.date:
    """The canonical text of a date (YYYY-MM-DD) or year-month (YYYY-MM, its first day)."""
    assert isinstance(value, str)
    return dt.date.fromisoformat(value if len(value) == 10 else value + "-01")


def read_source_file(
    path: Path,
    spec: SourceSpec,
    *,
    source: str,
    relative_path: str,
    today: dt.date,
) -> FileRead:
    """Read a whole file into memory; `SourceFileReader` streams instead."""
    reader = SourceFileReader(
        path.read_bytes(), spec, source=source, relative_path=relative_path, today=today
    )
    loaded: list[LoadedRow] = []
    quarantined: list[QuarantinedRow] = []
    for row in reader.rows():
        if isinstance(row, LoadedRow):
            loaded.append(row)
        else:
            quarantined.append(row)
    return FileRead(
        relative_path=relative_path,
        source=source,
        encoding=reader.encoding,
        rows_read=reader.rows_read,
        loaded=loaded,
        quarantined=quarantined,
        missing_optional_columns=reader.missing_optional_columns,
        unmapped_columns=reader.unmapped_columns,
    )
