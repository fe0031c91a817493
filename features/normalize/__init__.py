"""Pure normalisation of Japanese record fields into display forms and comparison keys.

Dates (和暦 and Western), kanji and kana names (variant kanji, 外字, width, script),
addresses (丁目/番地/号 notations, building part) and coded fields (sex). Nothing is read or
computed at import time; the variant-kanji table loads on first use.
"""

from features.normalize.addresses import NormalizedAddress, normalize_address
from features.normalize.codes import Sex, kanji_to_int, normalize_digits, normalize_sex
from features.normalize.dates import (
    DateParseError,
    parse_japanese_date,
    parse_year_month,
    to_japanese_era,
)
from features.normalize.names import (
    UNKNOWN_CHAR,
    NormalizedName,
    kana_display,
    kanji_variant_table,
    load_gaiji_map,
    normalize_kana_name,
    normalize_kanji_name,
    split_full_name,
)

__all__ = [
    "UNKNOWN_CHAR",
    "DateParseError",
    "NormalizedAddress",
    "NormalizedName",
    "Sex",
    "kana_display",
    "kanji_to_int",
    "kanji_variant_table",
    "load_gaiji_map",
    "normalize_address",
    "normalize_digits",
    "normalize_kana_name",
    "normalize_kanji_name",
    "normalize_sex",
    "parse_japanese_date",
    "parse_year_month",
    "split_full_name",
    "to_japanese_era",
]
