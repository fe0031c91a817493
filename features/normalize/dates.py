"""Japanese-era and Western date notations as found in departmental extracts.

Era arithmetic is proleptic Gregorian from 明治 onwards (明治N年 = 1867+N), which is what
every current system does; dates before 1873, when Japan still used the lunisolar calendar,
are therefore not historically exact, which does not matter for children's records.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
import unicodedata
from dataclasses import dataclass
from typing import Final

from features.normalize.codes import KANJI_NUMERAL_CHARS, kanji_to_int

__all__ = [
    "DateParseError",
    "parse_japanese_date",
    "parse_year_month",
    "to_japanese_era",
]

# Errors may reach logs; echo at most this much of the offending value.
_EXCERPT_CHARS: Final = 32


class DateParseError(ValueError):
    """A date field that cannot be read. `reason` is short and never contains the record."""

    def __init__(self, reason: str, text: str) -> None:
        self.reason = reason
        excerpt = text if len(text) <= _EXCERPT_CHARS else text[:_EXCERPT_CHARS] + "…"
        super().__init__(f"{reason}: {excerpt!r}")


@dataclass(frozen=True)
class _Era:
    name: str
    letter: str
    code: str  # 元号コード used by 住基 and J-LIS fixed-width files (5070401 = 令和7年4月1日)
    start: dt.date

    @property
    def offset(self) -> int:
        return self.start.year - 1


# 大正 and 昭和 began on the day the previous emperor died, so that day belongs to the new
# era only (大正15年12月25日 is invalid; it is 昭和元年12月25日).
_ERAS: Final = (
    _Era("明治", "M", "1", dt.date(1868, 10, 23)),
    _Era("大正", "T", "2", dt.date(1912, 7, 30)),
    _Era("昭和", "S", "3", dt.date(1926, 12, 25)),
    _Era("平成", "H", "4", dt.date(1989, 1, 8)),
    _Era("令和", "R", "5", dt.date(2019, 5, 1)),
)

_ERA_BY_TOKEN: Final[dict[str, _Era]] = {
    token: era for era in _ERAS for token in (era.name, era.name[0], era.letter)
}
_ERA_BY_CODE: Final[dict[str, _Era]] = {era.code: era for era in _ERAS}

_ERA_RE: Final = "(?P<era>明治|大正|昭和|平成|令和|[明大昭平令MTSHR])"
_ERA_YEAR_RE: Final = r"(?P<year>\d{1,2}|元)"

_DATE_PATTERNS: Final = (
    re.compile(_ERA_RE + _ERA_YEAR_RE + r"年(?P<month>\d{1,2})月(?P<day>\d{1,2})日?"),
    re.compile(
        _ERA_RE + _ERA_YEAR_RE + r"(?P<sep>[./-])(?P<month>\d{1,2})(?P=sep)(?P<day>\d{1,2})"
    ),
    re.compile(_ERA_RE + r"(?P<year>\d{2})(?P<month>\d{2})(?P<day>\d{2})"),
    re.compile(r"(?P<code>[1-5])(?P<year>\d{2})(?P<month>\d{2})(?P<day>\d{2})"),
    re.compile(r"(?P<year>\d{4})年(?P<month>\d{1,2})月(?P<day>\d{1,2})日?"),
    re.compile(r"(?P<year>\d{4})(?P<sep>[./-])(?P<month>\d{1,2})(?P=sep)(?P<day>\d{1,2})"),
    re.compile(r"(?P<year>\d{4})(?P<month>\d{2})(?P<day>\d{2})"),
)

_YEAR_MONTH_PATTERNS: Final = (
    re.compile(_ERA_RE + _ERA_YEAR_RE + r"年(?P<month>\d{1,2})月?"),
    re.compile(_ERA_RE + _ERA_YEAR_RE + r"[./-](?P<month>\d{1,2})"),
    re.compile(_ERA_RE + r"(?P<year>\d{2})(?P<month>\d{2})"),
    re.compile(r"(?P<year>\d{4})年(?P<month>\d{1,2})月?"),
    re.compile(r"(?P<year>\d{4})[./-](?P<month>\d{1,2})"),
    re.compile(r"(?P<year>\d{4})(?P<month>\d{2})"),
)

_DASHES: Final = str.maketrans(dict.fromkeys("‐‑‒–—―−ー", "-"))
_WHITESPACE_RE: Final = re.compile(r"\s+")
# Kanji numerals only count as a number right before a date unit, so 令和 and 元 stay intact.
_KANJI_NUMBER_RE: Final = re.compile(f"[{KANJI_NUMERAL_CHARS}]+(?=[年月日])")


def _canonical_text(text: str) -> str:
    if not isinstance(text, str):
        raise DateParseError("not a string", repr(text))
    # NFKC turns full-width digits/letters/separators and the ㋿ ㍻ ligatures into plain text.
    cleaned = unicodedata.normalize("NFKC", text).translate(_DASHES).upper()
    cleaned = _WHITESPACE_RE.sub("", cleaned)
    if not cleaned:
        raise DateParseError("empty date", text)
    try:
        return _KANJI_NUMBER_RE.sub(lambda m: str(kanji_to_int(m.group())), cleaned)
    except ValueError:
        raise DateParseError("malformed kanji numeral", text) from None


def _era_of(match: re.Match[str]) -> _Era | None:
    groups = match.groupdict()
    if groups.get("era") is not None:
        return _ERA_BY_TOKEN[groups["era"]]
    if groups.get("code") is not None:
        return _ERA_BY_CODE[groups["code"]]
    return None


def _gregorian_year(match: re.Match[str], era: _Era | None, text: str) -> int:
    raw_year = match.group("year")
    if era is None:
        return int(raw_year)
    era_year = 1 if raw_year == "元" else int(raw_year)
    if era_year == 0:
        raise DateParseError(f"{era.name}0年 does not exist", text)
    return era.offset + era_year


def _era_end(era: _Era) -> dt.date | None:
    index = _ERAS.index(era)
    if index + 1 == len(_ERAS):
        return None
    return _ERAS[index + 1].start - dt.timedelta(days=1)


def _check_in_era(era: _Era, first: dt.date, last: dt.date, text: str) -> None:
    """Reject a date (or a month, first..last) that lies wholly outside its era."""
    end = _era_end(era)
    if last < era.start or (end is not None and first > end):
        raise DateParseError(f"outside the {era.name} era", text)


def parse_japanese_date(text: str) -> dt.date:
    """Read a date written in a Japanese era or Western notation.

    Accepts 令和7年4月1日, 令和元年5月1日, 令和七年四月一日, R7.4.1, R07.04.01, r7/4/1, 令7.4.1,
    H31.4.30, full-width digits, spaces anywhere, the compact R070401, the 元号コード form
    5070401, and Western 2025/4/1, 2025-04-01, 2025.4.1, 20250401, 2025年4月1日.
    Raises DateParseError for empty input, unknown formats, impossible calendar dates
    (2月30日) and era dates outside their era (平成31年5月1日, 令和元年4月30日).
    """
    canonical = _canonical_text(text)
    for pattern in _DATE_PATTERNS:
        match = pattern.fullmatch(canonical)
        if match is None:
            continue
        era = _era_of(match)
        year = _gregorian_year(match, era, text)
        try:
            date = dt.date(year, int(match.group("month")), int(match.group("day")))
        except ValueError:
            raise DateParseError("no such calendar date", text) from None
        if era is not None:
            _check_in_era(era, date, date, text)
        return date
    raise DateParseError("unrecognised date format", text)


def parse_year_month(text: str) -> tuple[int, int]:
    """Read a 年月 field (令和7年4月, R7.4, R0704, 2025/04, 2025年4月, 202504) as (year, month).

    Era boundaries are checked at month granularity: 平成31年4月 and 令和元年5月 are valid,
    平成31年5月 and 令和元年4月 are not.
    """
    canonical = _canonical_text(text)
    for pattern in _YEAR_MONTH_PATTERNS:
        match = pattern.fullmatch(canonical)
        if match is None:
            continue
        era = _era_of(match)
        year = _gregorian_year(match, era, text)
        month = int(match.group("month"))
        if not 1 <= month <= 12 or not dt.MINYEAR <= year <= dt.MAXYEAR:
            raise DateParseError("no such year-month", text)
        if era is not None:
            last_day = calendar.monthrange(year, month)[1]
            _check_in_era(era, dt.date(year, month, 1), dt.date(year, month, last_day), text)
        return year, month
    raise DateParseError("unrecognised year-month format", text)


def to_japanese_era(date: dt.date) -> str:
    """Write a date in the canonical era form, 令和7年4月1日 (元年 for the first year)."""
    for era in reversed(_ERAS):
        if date >= era.start:
            era_year = date.year - era.offset
            year_text = "元" if era_year == 1 else str(era_year)
            return f"{era.name}{year_text}年{date.month}月{date.day}日"
    raise ValueError(f"{date.isoformat()} is before the 明治 era")
