"""Coded fields (sex) and number notations shared by the other normalisers."""

from __future__ import annotations

import unicodedata
from typing import Final, Literal

__all__ = ["KANJI_NUMERAL_CHARS", "Sex", "kanji_to_int", "normalize_digits", "normalize_sex"]

Sex = Literal["M", "F", "U"]

# 1/2/9 is the 住民基本台帳 coding; 0 is ISO 5218's "not known", which some vendors emit.
# 男子/女子 is how school registers label the column.
_SEX_CODES: Final[dict[str, Sex]] = {
    "1": "M",
    "2": "F",
    "9": "U",
    "0": "U",
    "男": "M",
    "女": "F",
    "男性": "M",
    "女性": "F",
    "男子": "M",
    "女子": "F",
    "m": "M",
    "f": "F",
    "male": "M",
    "female": "F",
    "u": "U",
    "unknown": "U",
    "不明": "U",
}

_KANJI_DIGITS: Final[dict[str, int]] = {
    "〇": 0,
    "零": 0,
    "一": 1,
    "壱": 1,
    "二": 2,
    "弐": 2,
    "三": 3,
    "参": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_KANJI_MULTIPLIERS: Final[dict[str, int]] = {"十": 10, "拾": 10, "百": 100, "千": 1000}
_KANJI_MAN: Final = "万"

# For building regexes in dates.py and addresses.py.
KANJI_NUMERAL_CHARS: Final = "".join([*_KANJI_DIGITS, *_KANJI_MULTIPLIERS, _KANJI_MAN])


def normalize_digits(text: str) -> str:
    """Replace every Unicode decimal digit (full-width １, Arabic-Indic, ...) by its ASCII form.

    Only category Nd is touched: circled or superscript numbers are left alone, because their
    meaning (a footnote, a list marker) is not a plain digit.
    """
    return "".join(
        str(unicodedata.decimal(ch)) if unicodedata.category(ch) == "Nd" else ch for ch in text
    )


def kanji_to_int(text: str) -> int:
    """Read a kanji numeral: 十二 -> 12, 百二十三 -> 123, 二〇二五 -> 2025, 三万五千 -> 35000.

    Both the counting style (with 十/百/千) and the positional style (digit by digit, as in
    二〇二五年) occur in municipal records. Raises ValueError on anything else.
    """
    if not text or any(ch not in KANJI_NUMERAL_CHARS for ch in text):
        raise ValueError("not a kanji numeral")
    if not any(ch in _KANJI_MULTIPLIERS or ch == _KANJI_MAN for ch in text):
        return int("".join(str(_KANJI_DIGITS[ch]) for ch in text))
    total = 0
    section = 0
    digit: int | None = None
    last_multiplier = 10_000
    for ch in text:
        if ch in _KANJI_DIGITS:
            if digit is not None:
                raise ValueError("two kanji digits in a row inside a counted numeral")
            digit = _KANJI_DIGITS[ch]
        elif ch in _KANJI_MULTIPLIERS:
            multiplier = _KANJI_MULTIPLIERS[ch]
            if multiplier >= last_multiplier:
                raise ValueError("kanji multipliers out of order")
            section += (1 if digit is None else digit) * multiplier
            digit = None
            last_multiplier = multiplier
        else:
            if total:
                raise ValueError("more than one 万 in a kanji numeral")
            total = (section + (digit or 0)) * 10_000
            if total == 0:
                raise ValueError("万 without a count")
            section = 0
            digit = None
            last_multiplier = 10_000
    return total + section + (digit or 0)


def normalize_sex(value: str | int) -> Sex:
    """Map the sex codings seen across departments to M, F or U (unknown / not stated).

    Accepts 1/2/9 (and 0), 男/女, 男性/女性, 男子/女子, M/F, male/female in any width or case.
    Raises ValueError on anything else, so a shifted CSV column is caught rather than coded U.
    """
    # bool is an int subclass; True would otherwise silently become "1" -> M.
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"unrecognised sex value of type {type(value).__name__}")
    text = str(value) if isinstance(value, int) else value
    folded = unicodedata.normalize("NFKC", text).strip().casefold()
    code = _SEX_CODES.get(folded)
    if code is None:
        raise ValueError(f"unrecognised sex value: {text[:20]!r}")
    return code
