"""Surname dictionary for splitting names written without a space (佐藤花子, サトウハナコ).

The shipped list (data/surnames.txt) holds each surname with its katakana readings, so a kana
name can be split at the reading of the kanji surname when both are known, and at the longest
known reading otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from types import MappingProxyType

from features.normalize import (
    UNKNOWN_CHAR,
    kanji_variant_table,
    normalize_kana_name,
    normalize_kanji_name,
    split_full_name,
)

__all__ = [
    "SurnameDictionary",
    "load_surnames",
    "parse_surnames",
    "split_kana_name",
    "split_kanji_name",
]


@dataclass(frozen=True)
class SurnameDictionary:
    """Known surnames as written and folded (髙橋 and 高橋), and readings as kana keys."""

    kanji: frozenset[str]
    kana: frozenset[str]
    readings: Mapping[str, tuple[str, ...]]
    lengths: frozenset[int]


def _fold(text: str) -> str:
    variants = kanji_variant_table()
    return "".join(variants.get(ch, ch) for ch in text)


def parse_surnames(text: str) -> SurnameDictionary:
    """Read `surname reading/reading` lines; blank lines and lines starting with # are skipped."""
    kanji: set[str] = set()
    kana: set[str] = set()
    readings: dict[str, tuple[str, ...]] = {}
    for line_number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        parts = stripped.split()
        if len(parts) != 2:
            raise ValueError(f"surnames line {line_number}: expected 'surname reading'")
        surname, reading_text = parts
        keys = tuple(
            dict.fromkeys(normalize_kana_name(r) for r in reading_text.split("/") if r.strip())
        )
        folded = _fold(surname)
        kanji.update((surname, folded))
        kana.update(keys)
        readings[folded] = tuple(dict.fromkeys((*readings.get(folded, ()), *keys)))
    return SurnameDictionary(
        kanji=frozenset(kanji),
        kana=frozenset(kana),
        readings=MappingProxyType(readings),
        lengths=frozenset(len(s) for s in kanji),
    )


@lru_cache(maxsize=1)
def load_surnames() -> SurnameDictionary:
    """The shipped surname list, read on first use."""
    source = resources.files("features.linkage") / "data" / "surnames.txt"
    return parse_surnames(source.read_text(encoding="utf-8"))


def _unknown_positions(text: str) -> set[int]:
    return {i for i, ch in enumerate(text) if normalize_kanji_name(ch).key == UNKNOWN_CHAR}


def _wildcard_split(text: str, surnames: SurnameDictionary) -> tuple[str, str] | None:
    """Split a name holding unreadable 外字 where some known surname fits around them.

    Only the split point is taken from the dictionary, never the characters, and only when every
    fitting surname agrees on it: ?橋花子 splits after two characters (高橋, 石橋 and 棚橋 all fit),
    which is all the comparison needs. Prefixes holding no readable character say nothing.
    """
    unknown = _unknown_positions(text)
    if not unknown:
        return None
    ends: set[int] = set()
    for end in range(1, len(text)):
        if end not in surnames.lengths or not any(i < end for i in unknown):
            continue
        prefix = text[:end]
        pattern = [None if i in unknown else _fold(ch) for i, ch in enumerate(prefix)]
        # A prefix of nothing but unreadable characters fits every surname of its length.
        if all(p is None for p in pattern):
            continue
        if any(
            len(candidate) == end
            and all(p is None or p == c for p, c in zip(pattern, candidate, strict=True))
            for candidate in surnames.kanji
        ):
            ends.add(end)
    if len(ends) != 1:
        return None
    end = ends.pop()
    return text[:end], text[end:]


def split_kanji_name(text: str, surnames: SurnameDictionary) -> tuple[str, str] | None:
    """(surname, given name) of a kanji full name, or None when no split is trustworthy.

    A space splits; otherwise the longest known surname prefix (see split_full_name), then a
    surname that fits around unreadable 外字. When a space gives a first part that is no known
    surname but a second part that is, the parts were written given name first and are swapped.
    """
    parts = split_full_name(text, surnames.kanji)
    if parts is None:
        return _wildcard_split(text.strip(), surnames)
    first, second = parts
    spaced = len(text.split()) > 1
    if spaced and _fold(first) not in surnames.kanji and _fold(second) in surnames.kanji:
        return second, first
    return parts


def split_kana_name(
    kana_key: str, spaced: str, kanji_surname: str | None, surnames: SurnameDictionary
) -> tuple[str, str] | None:
    """(surname, given name) kana keys.

    `spaced` is the kana as written (for its space), `kana_key` its comparison key. Without a
    space, the reading of the kanji surname is tried first (佐藤 -> サトウ), then the longest
    known reading that leaves a given name.
    """
    parts = spaced.split(maxsplit=1)
    if len(parts) == 2:
        try:
            return normalize_kana_name(parts[0]), normalize_kana_name(parts[1])
        except ValueError:
            return None
    if kanji_surname is not None:
        for reading in sorted(
            surnames.readings.get(_fold(kanji_surname), ()), key=len, reverse=True
        ):
            if kana_key.startswith(reading) and len(reading) < len(kana_key):
                return reading, kana_key[len(reading) :]
    for end in range(len(kana_key) - 1, 0, -1):
        if kana_key[:end] in surnames.kana:
            return kana_key[:end], kana_key[end:]
    return None
