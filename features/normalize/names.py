"""Comparison keys for kanji and kana names.

Departments write the same person differently: the registry keeps the registered 旧字体
(髙橋, 渡邊), schools type the common form (高橋, 渡辺), vendor systems store 外字 in the
private-use area, and kana may be hiragana, katakana or half-width. These functions produce a
key under which those spellings compare equal, and report what they could not resolve.

Folds deliberately not in data/kanji_variants.csv, because each form is a distinct and common
given-name choice (parents pick one on purpose) or the characters are unrelated words:
龍/竜, 凜/凛, 遙/遥, 埼/崎 (埼玉 is not 崎), 籐/藤 (籐 is rattan), 嶺/峰.
"""

from __future__ import annotations

import csv
import os
import re
import sys
import unicodedata
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from types import MappingProxyType
from typing import Final

import jaconv

__all__ = [
    "UNKNOWN_CHAR",
    "NormalizedName",
    "kana_display",
    "kanji_variant_table",
    "load_gaiji_map",
    "normalize_kana_name",
    "normalize_kanji_name",
    "split_full_name",
]

# ASCII, not U+FF1F: keys are compared byte-wise and NFKC would turn ？ into ? anyway.
UNKNOWN_CHAR: Final = "?"

_GETA_MARK: Final = "〓"  # typed where a character could not be represented
_REPLACEMENT_CHAR: Final = "\ufffd"  # what a CP932 decode with errors="replace" leaves behind
_MIDDLE_DOTS: Final = frozenset("・·")  # NFKC has already folded ･ into ・
_VARIANT_TABLE_COLUMNS: Final = ("variant", "canonical", "note")
_GAIJI_MAP_COLUMNS: Final = ("codepoint", "replacement", "note")
_CODEPOINT_RE: Final = re.compile(r"U\+([0-9A-F]{4,6})", re.IGNORECASE)
# ヶ and ヵ in kanji names (一ヶ谷, 八ヵ代) are typographic variants of ケ and カ.
_KANJI_FIELD_KANA_FOLDS: Final = {"ヶ": "ケ", "ヵ": "カ"}

_SMALL_KANA: Final = str.maketrans(
    "ァィゥェォッャュョヮヵヶㇰㇱㇲㇳㇴㇵㇶㇷㇸㇹㇺㇻㇼㇽㇾㇿ",
    "アイウエオツヤユヨワカケクシストヌハヒフヘホムラリルレロ",
)
# Hyphen-like characters people type for the long-vowel mark; NFKC has already mapped
# full-width －, ｰ and the small hyphen to - or ー.
_LONG_VOWEL_LOOKALIKES: Final = frozenset("-‐‑‒–—―−")
# Spacing (non-combining) sound marks: NFKC turns ゛ into " " + U+3099, which would leave a
# space inside the kana, so they become the combining marks before NFKC composes them.
_SPACING_SOUND_MARKS: Final = str.maketrans({"゛": "\u3099", "゜": "\u309a"})
_WHITESPACE_RE: Final = re.compile(r"\s+")
# Fast-path tests: most names hold none of these, and the per-character work can be skipped.
_HALF_WIDTH_KANA_RE: Final = re.compile("[\uff61-\uff9f]")
_COMPATIBILITY_IDEOGRAPH_RE: Final = re.compile("[\uf900-\ufaff\U0002f800-\U0002fa1f]")
_UNKNOWN_CHAR_RE: Final = re.compile(
    f"[\ue000-\uf8ff\U000f0000-\U0010fffd{_GETA_MARK}{_REPLACEMENT_CHAR}]"
)
_LONG_VOWEL_LOOKALIKE_RE: Final = re.compile("[-‐‑‒–—―−]")
_ASCII_UPPER: Final = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")


@dataclass(frozen=True)
class NormalizedName:
    """A kanji name cleaned for display and reduced to a comparison key.

    `key` has no spaces, folded variants and width, no variation selectors, upper-case Latin
    letters, and UNKNOWN_CHAR for each unresolved 外字; `unmapped_gaiji` lists those characters
    (distinct, in order of first appearance) so a caller can extend the municipality's map.
    """

    display: str
    key: str
    unmapped_gaiji: tuple[str, ...] = ()


def _is_private_use(ch: str) -> bool:
    code = ord(ch)
    return 0xE000 <= code <= 0xF8FF or 0xF0000 <= code <= 0x10FFFD


def _is_unknown_char(ch: str) -> bool:
    return _is_private_use(ch) or ch in (_GETA_MARK, _REPLACEMENT_CHAR)


def _is_variation_selector(ch: str) -> bool:
    code = ord(ch)
    return 0xFE00 <= code <= 0xFE0F or 0xE0100 <= code <= 0xE01EF


def _is_compatibility_ideograph(ch: str) -> bool:
    code = ord(ch)
    return 0xF900 <= code <= 0xFAFF or 0x2F800 <= code <= 0x2FA1F


@lru_cache(maxsize=1)
def kanji_variant_table() -> Mapping[str, str]:
    """The shipped variant -> canonical kanji folds (data/kanji_variants.csv), read once."""
    source = resources.files("features.normalize") / "data" / "kanji_variants.csv"
    reader = csv.reader(source.read_text(encoding="utf-8").splitlines())
    header = next(reader, None)
    if header is None or tuple(header) != _VARIANT_TABLE_COLUMNS:
        raise ValueError("kanji_variants.csv: header must be variant,canonical,note")
    table: dict[str, str] = {}
    for line_number, row in enumerate(reader, start=2):
        if len(row) != len(_VARIANT_TABLE_COLUMNS):
            raise ValueError(f"kanji_variants.csv line {line_number}: expected 3 columns")
        variant, canonical, _note = row
        if len(variant) != 1 or len(canonical) != 1 or variant == canonical:
            raise ValueError(f"kanji_variants.csv line {line_number}: bad fold")
        if variant in table:
            raise ValueError(f"kanji_variants.csv line {line_number}: duplicate variant")
        table[variant] = canonical
    # A chain (a -> b, b -> c) would make the key depend on how often it is normalised.
    if not table.keys().isdisjoint(table.values()):
        raise ValueError("kanji_variants.csv: a canonical form is itself listed as a variant")
    return MappingProxyType(table)


def _nfkc_keeping_compatibility_ideographs(text: str) -> str:
    """NFKC, except that CJK compatibility ideographs (神 U+FA19, 﨑) keep the registered glyph.

    Whole runs are normalised together so that a kana followed by a separate sound mark still
    composes (ｶﾞ -> ガ).
    """
    if _COMPATIBILITY_IDEOGRAPH_RE.search(text) is None:
        return unicodedata.normalize("NFKC", text)
    parts: list[str] = []
    run_start = 0
    for index, ch in enumerate(text):
        if _is_compatibility_ideograph(ch):
            parts.append(unicodedata.normalize("NFKC", text[run_start:index]))
            parts.append(ch)
            run_start = index + 1
    parts.append(unicodedata.normalize("NFKC", text[run_start:]))
    return "".join(parts)


@lru_cache(maxsize=1)
def _invisible_characters() -> Mapping[int, None]:
    """Control and format characters that are not whitespace, as a str.translate table."""
    # Built once per process (about 0.1 s): deleting through translate runs in C, where a
    # Unicode category lookup per character was the costliest step of name keys.
    return {
        code: None
        for code in range(sys.maxunicode + 1)
        if unicodedata.category(chr(code)) in ("Cc", "Cf") and not chr(code).isspace()
    }


@lru_cache(maxsize=1)
def _space_and_middle_dots() -> Mapping[int, None]:
    """Whitespace and middle dots, as a str.translate table that deletes them."""
    table: dict[int, None] = {
        code: None for code in range(sys.maxunicode + 1) if chr(code).isspace()
    }
    table.update({ord(ch): None for ch in _MIDDLE_DOTS})
    return table


def _drop_invisible(text: str) -> str:
    """Remove control and format characters (zero-width spaces, BOMs) but keep whitespace."""
    return text.translate(_invisible_characters())


def _collapse_spaces(text: str) -> str:
    return _WHITESPACE_RE.sub(" ", text).strip()


def _fold_kanji_char(ch: str, variants: Mapping[str, str]) -> str:
    ch = _KANJI_FIELD_KANA_FOLDS.get(ch, ch)
    ch = variants.get(ch, ch)
    return ch.upper() if ch.isascii() else ch


class _KanjiKeyCharacters(dict[int, str | None]):
    """ord -> the character's contribution to a kanji key (None: dropped), filled on demand.

    A str.translate table: the fold of each distinct character is worked out once.
    """

    def __missing__(self, code: int) -> str | None:
        ch = chr(code)
        folded: str | None
        if ch.isspace() or ch in _MIDDLE_DOTS or _is_variation_selector(ch):
            folded = None
        elif _is_unknown_char(ch):
            folded = UNKNOWN_CHAR
        else:
            folded = _fold_kanji_char(ch, kanji_variant_table())
        self[code] = folded
        return folded


@lru_cache(maxsize=1)
def _kanji_key_characters() -> _KanjiKeyCharacters:
    return _KanjiKeyCharacters()


def normalize_kanji_name(text: str, gaiji_map: Mapping[str, str] | None = None) -> NormalizedName:
    """Clean a kanji name field and build its comparison key.

    `gaiji_map` (see load_gaiji_map; keys are single characters) replaces the municipality's
    private-use characters first, so a replacement that is itself an old form is folded like
    any other character. Private-use characters it does not cover, 〓 and U+FFFD stay in
    `display`, become UNKNOWN_CHAR in `key` and are listed in `unmapped_gaiji`: an unreadable
    character must never vanish, or 髙〓 and 髙 would look identical.
    Raises ValueError for an empty name.
    """
    if gaiji_map and not gaiji_map.keys().isdisjoint(text):
        text = "".join(gaiji_map.get(ch, ch) for ch in text)
    display = _collapse_spaces(_nfkc_keeping_compatibility_ideographs(_drop_invisible(text)))

    folded = unicodedata.normalize("NFKC", display)
    key = folded.translate(_kanji_key_characters())
    if not key:
        raise ValueError("empty name")
    unmapped = tuple(dict.fromkeys(_UNKNOWN_CHAR_RE.findall(folded)))
    return NormalizedName(display=display, key=key, unmapped_gaiji=unmapped)


def _kana_base(text: str) -> str:
    """Width and script folding shared by the kana key and the kana display."""
    text = _drop_invisible(text).translate(_SPACING_SOUND_MARKS)
    if _HALF_WIDTH_KANA_RE.search(text) is not None:  # h2z changes nothing else
        text = jaconv.h2z(text, kana=True, ascii=False, digit=False)
    return jaconv.hira2kata(unicodedata.normalize("NFKC", text))


def _unify_long_vowels(text: str) -> str:
    """A dash right after a kana is a long-vowel mark typed with the wrong key (サト- = サトー).

    Applied after spaces are settled, so the key of the display equals the key of the input.
    """
    if _LONG_VOWEL_LOOKALIKE_RE.search(text) is None:
        return text
    chars: list[str] = []
    for ch in text:
        if ch in _LONG_VOWEL_LOOKALIKES and chars and _is_katakana_or_long_vowel(chars[-1]):
            chars.append("ー")
        else:
            chars.append(ch)
    return "".join(chars)


def _is_katakana_or_long_vowel(ch: str) -> bool:
    # After hira2kata every kana is katakana; U+30A1..U+30FA are the letters, U+30FC is ー, and
    # a sound mark that found no kana to compose with still ends a kana syllable.
    return "\u30a1" <= ch <= "\u30fa" or ch in "ー\u3099\u309a"


def kana_display(text: str) -> str:
    """Readable katakana form of a kana name field, one space between surname and given name.

    Half-width and hiragana become full-width katakana and dash look-alikes become ー, but small
    kana stay small (キョウコ, not キヨウコ) because this is for people to read.
    Raises ValueError for an empty name.
    """
    display = _unify_long_vowels(_collapse_spaces(_kana_base(text)))
    if all(ch in _MIDDLE_DOTS or ch.isspace() for ch in display):
        raise ValueError("empty name")
    return display


def normalize_kana_name(text: str) -> str:
    """Comparison key for a kana name field.

    NFKC, half-width to full-width, hiragana to katakana, spaces and middle dots removed, small
    kana made large (キョウコ = キヨウコ, ッ = ツ) and ー ｰ － ‐ unified to ー; ヴ is kept because
    folding it to ブ would merge different foreign names. Raises ValueError for an empty name.
    """
    base = _kana_base(text)
    kept = base.translate(_space_and_middle_dots())
    # Composing only now lets a sound mark that followed a space or a small kana join its kana
    # (ヮ゛ -> ワ゛ -> ヷ), before the long-vowel rule looks at the preceding character.
    key = _unify_long_vowels(unicodedata.normalize("NFC", kept.translate(_SMALL_KANA)))
    key = key.translate(_ASCII_UPPER)
    if not key:
        raise ValueError("empty name")
    return key


def _is_split_point(text: str, index: int) -> bool:
    """False inside a character: before a sound mark, combining mark or variation selector."""
    ch = text[index]
    return not (unicodedata.combining(ch) or ch in "ﾞﾟ゛゜" or _is_variation_selector(ch))


def _fold_for_lookup(text: str) -> str:
    variants = kanji_variant_table()
    return "".join(_fold_kanji_char(ch, variants) for ch in unicodedata.normalize("NFKC", text))


def split_full_name(text: str, known_surnames: Collection[str]) -> tuple[str, str] | None:
    """Split a full name into (surname, given name).

    With a separator (half- or full-width space) the first one splits. Without one, the longest
    prefix found in `known_surnames` is the surname; a prefix also matches when its variant-
    folded form is known (髙橋太郎 splits on a known 高橋). Returns None when no known surname
    leaves a non-empty given name. Pass a set: each candidate prefix is a membership test.
    The parts are returned as written; normalise them afterwards.
    """
    stripped = text.strip()
    parts = stripped.split(maxsplit=1)
    if len(parts) == 2:
        return parts[0], _collapse_spaces(parts[1])
    for end in range(len(stripped) - 1, 0, -1):
        if not _is_split_point(stripped, end):
            continue
        prefix = stripped[:end]
        if prefix in known_surnames or _fold_for_lookup(prefix) in known_surnames:
            return prefix, stripped[end:]
    return None


def load_gaiji_map(path: str | os.PathLike[str], encoding: str = "utf-8-sig") -> dict[str, str]:
    """Read a municipality's 外字 map: CSV `codepoint,replacement,note`, e.g. `U+E001,髙,...`.

    Only private-use code points can be mapped (a standard character needs no map). Blank lines
    are skipped. Raises ValueError naming the file and line for a missing header, a wrong column
    count, a malformed or non-private-use code point, an empty or still-unknown replacement, or
    a code point listed twice.
    """
    mapping: dict[str, str] = {}
    with open(path, encoding=encoding, newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None or tuple(cell.strip() for cell in header) != _GAIJI_MAP_COLUMNS:
            raise ValueError(
                f"{os.fspath(path)}: line 1: header must be codepoint,replacement,note"
            )
        for row in reader:
            where = f"{os.fspath(path)}: line {reader.line_num}"
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(_GAIJI_MAP_COLUMNS):
                raise ValueError(f"{where}: expected 3 columns, found {len(row)}")
            raw_codepoint, replacement, _note = (cell.strip() for cell in row)
            match = _CODEPOINT_RE.fullmatch(raw_codepoint)
            if match is None:
                raise ValueError(f"{where}: code point must look like U+E001")
            code = int(match.group(1), 16)
            if code > 0x10FFFF or not _is_private_use(chr(code)):
                raise ValueError(f"{where}: {raw_codepoint} is not a private-use code point")
            if not replacement:
                raise ValueError(f"{where}: empty replacement")
            if any(_is_unknown_char(ch) for ch in replacement):
                raise ValueError(f"{where}: replacement is itself an unknown character")
            if chr(code) in mapping:
                raise ValueError(f"{where}: {raw_codepoint} listed twice")
            mapping[chr(code)] = replacement
    return mapping
