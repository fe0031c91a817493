from __future__ import annotations

import contextlib
import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from features.normalize import (
    DateParseError,
    parse_japanese_date,
    parse_year_month,
    to_japanese_era,
)

MEIJI_START = dt.date(1868, 10, 23)
LAST_TESTED = dt.date(2030, 12, 31)

ERA_LETTERS = {"明治": "M", "大正": "T", "昭和": "S", "平成": "H", "令和": "R"}
FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


@pytest.mark.parametrize(
    "text",
    [
        "令和7年4月1日",
        "令和07年04月01日",
        "令和7年4月1",
        "R7.4.1",
        "R07.04.01",
        "r7/4/1",
        "R7-4-1",
        "Ｒ７．４．１",
        "令和７年４月１日",
        "令7.4.1",
        "令和 7年 4月 1日",
        " 令和　7 年 4 月 1 日 ",
        "R 7.4.1",
        "R7年4月1日",
        "令和七年四月一日",
        "㋿7年4月1日",
        "R070401",
        "5070401",
        "2025/4/1",
        "2025/04/01",
        "2025-04-01",
        "2025.4.1",
        "20250401",
        "2025年4月1日",
        "２０２５年４月１日",
        "二〇二五年四月一日",
        "2025−04−01",
    ],
)
def test_notations_of_the_same_day(text: str) -> None:
    assert parse_japanese_date(text) == dt.date(2025, 4, 1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("令和元年5月1日", dt.date(2019, 5, 1)),
        ("R元.5.1", dt.date(2019, 5, 1)),
        ("H31.4.30", dt.date(2019, 4, 30)),
        ("平成元年1月8日", dt.date(1989, 1, 8)),
        ("S64.1.7", dt.date(1989, 1, 7)),
        ("s64/1/7", dt.date(1989, 1, 7)),
        ("昭和元年12月25日", dt.date(1926, 12, 25)),
        ("大正15年12月24日", dt.date(1926, 12, 24)),
        ("大正元年7月30日", dt.date(1912, 7, 30)),
        ("T1.7.30", dt.date(1912, 7, 30)),
        ("明治45年7月29日", dt.date(1912, 7, 29)),
        ("明治元年10月23日", dt.date(1868, 10, 23)),
        ("M1.10.23", dt.date(1868, 10, 23)),
        ("昭50.3.3", dt.date(1975, 3, 3)),
        ("平12.2.29", dt.date(2000, 2, 29)),
        ("㍻12.2.29", dt.date(2000, 2, 29)),
        ("令和6年2月29日", dt.date(2024, 2, 29)),
        ("H310430", dt.date(2019, 4, 30)),
        ("3640107", dt.date(1989, 1, 7)),
        ("4010108", dt.date(1989, 1, 8)),
        ("平成三十一年四月三十日", dt.date(2019, 4, 30)),
    ],
)
def test_era_dates(text: str, expected: dt.date) -> None:
    assert parse_japanese_date(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "平成31年5月1日",
        "H31.5.1",
        "昭和64年1月8日",
        "S64.1.8",
        "令和元年4月30日",
        "R1.4.30",
        "平成元年1月7日",
        "大正15年12月25日",
        "明治45年7月30日",
        "明治元年10月22日",
        "4310501",
    ],
)
def test_dates_outside_their_era_are_rejected(text: str) -> None:
    with pytest.raises(DateParseError, match="outside the"):
        parse_japanese_date(text)


@pytest.mark.parametrize(
    "text",
    ["2025/2/30", "令和7年2月29日", "R7.13.1", "2025-00-10", "20250431", "令和7年4月32日"],
)
def test_impossible_calendar_dates_are_rejected(text: str) -> None:
    with pytest.raises(DateParseError, match="no such calendar date"):
        parse_japanese_date(text)


@pytest.mark.parametrize("text", ["令和0年1月1日", "R0.1.1"])
def test_era_year_zero_is_rejected(text: str) -> None:
    with pytest.raises(DateParseError, match="0年"):
        parse_japanese_date(text)


@pytest.mark.parametrize(
    "text",
    [
        "hello",
        "2025/4",
        "R7.4",
        "R7.4/1",
        "2025.4/1",
        "X7.4.1",
        "令和7年4月1日生",
        "4月1日",
        "25/4/1",
        "2025/4/1 10:00",
        "令和七年",
        "令和十十年4月1日",
    ],
)
def test_unknown_formats_are_rejected(text: str) -> None:
    with pytest.raises(DateParseError):
        parse_japanese_date(text)


@pytest.mark.parametrize("text", ["", "   ", "\u3000", "\t\n"])
def test_empty_dates_are_rejected(text: str) -> None:
    with pytest.raises(DateParseError, match="empty date"):
        parse_japanese_date(text)


def test_date_parse_error_is_a_value_error_with_a_short_reason() -> None:
    with pytest.raises(ValueError, match="unrecognised date format") as caught:
        parse_japanese_date("9" * 500)
    error = caught.value
    assert isinstance(error, DateParseError)
    assert error.reason == "unrecognised date format"
    # Only a bounded excerpt of the offending value may reach a log line.
    assert len(str(error)) < 80


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("令和7年4月", (2025, 4)),
        ("令和７年４月", (2025, 4)),
        ("令和 7 年 4 月", (2025, 4)),
        ("R7.4", (2025, 4)),
        ("R07.04", (2025, 4)),
        ("r7/4", (2025, 4)),
        ("R0704", (2025, 4)),
        ("令和元年5月", (2019, 5)),
        ("平成31年4月", (2019, 4)),
        ("平成元年1月", (1989, 1)),
        ("昭和64年1月", (1989, 1)),
        ("2025/04", (2025, 4)),
        ("2025-4", (2025, 4)),
        ("202504", (2025, 4)),
        ("2025年4月", (2025, 4)),
    ],
)
def test_year_month(text: str, expected: tuple[int, int]) -> None:
    assert parse_year_month(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("平成31年5月", "outside the"),
        ("令和元年4月", "outside the"),
        ("昭和64年2月", "outside the"),
        ("2025/13", "no such year-month"),
        ("R7.0", "no such year-month"),
        ("", "empty date"),
        ("2025/4/1", "unrecognised"),
        ("April 2025", "unrecognised"),
    ],
)
def test_bad_year_months_are_rejected(text: str, reason: str) -> None:
    with pytest.raises(DateParseError, match=reason):
        parse_year_month(text)


@pytest.mark.parametrize(
    ("date", "expected"),
    [
        (dt.date(2025, 4, 1), "令和7年4月1日"),
        (dt.date(2019, 5, 1), "令和元年5月1日"),
        (dt.date(2019, 4, 30), "平成31年4月30日"),
        (dt.date(1989, 1, 7), "昭和64年1月7日"),
        (dt.date(1989, 1, 8), "平成元年1月8日"),
        (dt.date(1926, 12, 25), "昭和元年12月25日"),
        (dt.date(1912, 7, 30), "大正元年7月30日"),
        (dt.date(1868, 10, 23), "明治元年10月23日"),
    ],
)
def test_to_japanese_era(date: dt.date, expected: str) -> None:
    assert to_japanese_era(date) == expected


def test_to_japanese_era_rejects_dates_before_meiji() -> None:
    with pytest.raises(ValueError, match="before the 明治 era"):
        to_japanese_era(dt.date(1868, 10, 22))


def test_every_day_from_meiji_to_2030_round_trips() -> None:
    day = MEIJI_START
    while day <= LAST_TESTED:
        assert parse_japanese_date(to_japanese_era(day)) == day
        day += dt.timedelta(days=1)


@given(st.dates(min_value=MEIJI_START, max_value=LAST_TESTED))
def test_era_form_round_trips(day: dt.date) -> None:
    assert parse_japanese_date(to_japanese_era(day)) == day


@given(
    st.dates(min_value=MEIJI_START, max_value=LAST_TESTED),
    st.sampled_from(["letter", "lower", "kanji1", "padded", "slash", "full_width", "compact"]),
)
def test_abbreviated_era_notations_round_trip(day: dt.date, style: str) -> None:
    canonical = to_japanese_era(day)
    era = canonical[:2]
    era_year = (
        day.year - {"明治": 1867, "大正": 1911, "昭和": 1925, "平成": 1988, "令和": 2018}[era]
    )
    letter = ERA_LETTERS[era]
    rendered = {
        "letter": f"{letter}{era_year}.{day.month}.{day.day}",
        "lower": f"{letter.lower()}{era_year}/{day.month}/{day.day}",
        "kanji1": f"{era[0]}{era_year}.{day.month}.{day.day}",
        "padded": f"{letter}{era_year:02d}.{day.month:02d}.{day.day:02d}",
        "slash": f"{era} {era_year}/{day.month}/{day.day}",
        "full_width": canonical.translate(FULL_WIDTH),
        "compact": f"{letter}{era_year:02d}{day.month:02d}{day.day:02d}",
    }[style]
    assert parse_japanese_date(rendered) == day


@given(st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2100, 12, 31)))
def test_western_notations_round_trip(day: dt.date) -> None:
    for rendered in (
        day.isoformat(),
        day.strftime("%Y%m%d"),
        f"{day.year}/{day.month}/{day.day}",
        f"{day.year}年{day.month}月{day.day}日",
    ):
        assert parse_japanese_date(rendered) == day


DATE_ALPHABET = "令和平成昭大明治元年月日RHSTMrhs0123456789０１２./-ー 　十一二〇"


@given(st.one_of(st.text(alphabet=DATE_ALPHABET, max_size=16), st.text(max_size=12)))
def test_arbitrary_text_fails_only_with_date_parse_error(text: str) -> None:
    for parse in (parse_japanese_date, parse_year_month):
        with contextlib.suppress(DateParseError):
            parse(text)
