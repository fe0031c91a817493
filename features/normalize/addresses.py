"""Comparison keys for Japanese street addresses (住所) written in any of the usual notations.

The registry writes 一丁目２番地の３, the school 1-2-3, the health centre 1丁目2番3号 followed by
サンハイツ201号室. The key keeps the town part as written (minus 大字/字 and spaces) and
reduces the block (丁目, 番地/番, 号 and branch numbers) to `1-2-3`; the building and room go
to `building`.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Final

from features.normalize.codes import KANJI_NUMERAL_CHARS, kanji_to_int
from features.normalize.names import kanji_variant_table

__all__ = ["NormalizedAddress", "normalize_address"]

# The block has at most 丁目, 番地 and 号; a fourth number (1-2-3-101) is a room.
_MAX_BLOCK_PARTS: Final = 3

# NFKC has already mapped － and ｰ; these are the dashes it leaves alone. The box-drawing
# ─ and ━ are IME candidates that also get picked for a dash.
_DASHES: Final = str.maketrans(dict.fromkeys("‐‑‒–—―−─━", "-"))
# ー is only a dash right after a digit; elsewhere it is the long vowel of コーポ.
_LONG_VOWEL_AS_DASH_RE: Final = re.compile(f"(?<=\\d)ー(?=[\\d{KANJI_NUMERAL_CHARS}])")
# 条/線/地割 are converted too (北一条西二丁目 = 北1条西2丁目) but they name an area, so they
# are not part of the block. Converting the same text the same way on both sides can only help.
_KANJI_BEFORE_UNIT_RE: Final = re.compile(
    f"[{KANJI_NUMERAL_CHARS}]+(?=丁目|番地|番(?![町丁])|号(?![棟館室線])|条|線|地割)"
)
# A kanji branch number after an arabic one (2番地の三); not when a kanji or ツ follows, as in
# the building name 三ツ矢ハイツ.
_KANJI_BRANCH_RE: Final = re.compile(
    f"(?<=\\d)(番地の|番地|番の|番|の|ノ|-)([{KANJI_NUMERAL_CHARS}]+)(?![\u3400-\u9fffツつ])"
)
_NUMBER_RE: Final = re.compile(r"\d+")
# 番町/番丁 (一番町) and 号棟/号館/号室/号線 are names or buildings, not block units.
_UNIT_RE: Final = re.compile(r"\s*(丁目|番地|番(?![町丁])|号(?![棟館室線]))")
_SEPARATOR_RE: Final = re.compile(r"\s*[-のノ]\s*")
_SPACES_RE: Final = re.compile(r"\s*")
_WHITESPACE_RE: Final = re.compile(r"\s+")
_AZA_RE: Final = re.compile("大字|字")
_ADDRESS_KANA_FOLDS: Final = str.maketrans({"ヶ": "ケ", "ヵ": "カ"})


@dataclass(frozen=True)
class NormalizedAddress:
    """`display`: the cleaned address without the building; `key`: the comparison key;
    `building`: the building / room part ("" when there is none)."""

    display: str
    key: str
    building: str = ""


def _to_arabic(numeral: str) -> str:
    try:
        return str(kanji_to_int(numeral))
    except ValueError:
        # A malformed numeral (十十) is left as written rather than guessed at.
        return numeral


def _clean(text: str) -> str:
    visible = "".join(
        ch for ch in text if ch.isspace() or unicodedata.category(ch) not in ("Cc", "Cf")
    )
    cleaned = unicodedata.normalize("NFKC", visible).translate(_DASHES)
    cleaned = _WHITESPACE_RE.sub(" ", cleaned).strip()
    cleaned = _KANJI_BEFORE_UNIT_RE.sub(lambda m: _to_arabic(m.group()), cleaned)
    cleaned = _LONG_VOWEL_AS_DASH_RE.sub("-", cleaned)
    return _KANJI_BRANCH_RE.sub(lambda m: m.group(1) + _to_arabic(m.group(2)), cleaned)


def _number_continues_block(text: str, pos: int) -> bool:
    """After a unit without a separator, is the number at `pos` still part of the block?

    Only if it is followed by a unit, a separator and another number, or the end; otherwise
    it starts the building part (12番地 3F).
    """
    number = _NUMBER_RE.match(text, pos)
    if number is None:
        return False
    end = number.end()
    if end == len(text) or text[end].isspace() or _UNIT_RE.match(text, end):
        return True
    separator = _SEPARATOR_RE.match(text, end)
    return separator is not None and _NUMBER_RE.match(text, separator.end()) is not None


def _parse_block(text: str, start: int) -> tuple[list[int], int] | None:
    """Read 丁目/番地/号 numbers from `start`; None if the digits there are part of a name."""
    numbers: list[int] = []
    pos = start
    has_structure = False
    while True:
        number = _NUMBER_RE.match(text, pos)
        if number is None:
            break
        numbers.append(int(number.group()))
        pos = number.end()
        unit = _UNIT_RE.match(text, pos)
        if unit:
            has_structure = True
            pos = unit.end()
            if unit.group(1) == "号":
                break
        if len(numbers) == _MAX_BLOCK_PARTS:
            break
        separator = _SEPARATOR_RE.match(text, pos)
        if separator and _NUMBER_RE.match(text, separator.end()):
            has_structure = True
            pos = separator.end()
            continue
        if unit:
            spaced = _SPACES_RE.match(text, pos)
            next_pos = spaced.end() if spaced else pos
            if _number_continues_block(text, next_pos):
                pos = next_pos
                continue
        break
    at_end = pos == len(text) or text[pos].isspace()
    if not numbers or not (has_structure or at_end):
        return None
    return numbers, pos


def _town_key(text: str) -> str:
    variants = kanji_variant_table()
    compact = _AZA_RE.sub("", _WHITESPACE_RE.sub("", text)).translate(_ADDRESS_KANA_FOLDS)
    return "".join(variants.get(ch, ch) for ch in compact)


def normalize_address(text: str) -> NormalizedAddress:
    """Clean an address and reduce it to a comparison key.

    NFKC (full-width digits and letters), dashes unified (‐ − ― ─, and ー after a digit),
    kanji numerals before 丁目/番地/番/号 made arabic, so 1丁目2番3号, 1-2-3, １－２－３, 1丁目2-3
    and 一丁目２番地の３ all give the block `1-2-3`. What follows the block (サンハイツ201号室,
    〇〇マンション 3F, 101号, the 101 of 1-2-3-101) is returned as `building`. The key drops
    whitespace and the 大字/字 prefixes and folds variant kanji (宮﨑 = 宮崎) and ヶ/ケ.
    Raises ValueError for an empty address.
    """
    cleaned = _clean(text)
    if not cleaned:
        raise ValueError("empty address")
    for candidate in _NUMBER_RE.finditer(cleaned):
        parsed = _parse_block(cleaned, candidate.start())
        if parsed is None:
            continue
        numbers, end = parsed
        town = cleaned[: candidate.start()]
        building = cleaned[end:].lstrip(" -")
        return NormalizedAddress(
            display=cleaned[:end].strip(),
            key=_town_key(town) + "-".join(str(n) for n in numbers),
            building=building,
        )
    return NormalizedAddress(display=cleaned, key=_town_key(cleaned))
