"""Comparison keys: every compared field in three forms, as received, display and key.

Names go through features.normalize (variant kanji, width, script, 外字 via the municipality's
map) and are split into surname and given name with the surname dictionary when no space
separates them. An unreadable 外字 stays in the key as UNKNOWN_CHAR, which the comparisons
never count as agreeing with anything (not even another UNKNOWN_CHAR), so a name holding one
can neither match exactly nor be excluded: it falls to the fuzzy levels and the other fields
decide. Addresses lose their prefecture, which one department writes and another leaves out.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final

import pandas as pd

from features.linkage.surnames import (
    SurnameDictionary,
    load_surnames,
    split_kana_name,
    split_kanji_name,
)
from features.normalize import (
    kana_display,
    normalize_address,
    normalize_kana_name,
    normalize_kanji_name,
)

__all__ = [
    "KEY_COLUMNS",
    "GaijiMaps",
    "KeyBuilder",
    "NameKeys",
    "comparison_keys",
    "kana_name_keys",
    "kanji_name_keys",
]

GaijiMaps = Mapping[str, Mapping[str, str]]
KeyBuilder = Callable[[pd.DataFrame, GaijiMaps], pd.DataFrame]

# The columns a key builder must return, besides the identity columns it copies through.
KEY_COLUMNS: Final = (
    "name_display",
    "name_key",
    "surname_key",
    "given_key",
    "kana_display",
    "kana_key",
    "surname_kana_key",
    "given_kana_key",
    "history_name_keys",
    "history_surname_keys",
    "history_surname_kana_keys",
    "address_display",
    "address_key",
    "unmapped_gaiji",
)

_PREFECTURE_RE: Final = re.compile(r"^(?:北海道|東京都|大阪府|京都府|[^\d\-]{1,3}?県)")
_KANA_CHARS_RE: Final = re.compile(r"^[\s\u3040-\u30ff\uff66-\uff9f・ー゛゜]+$")


@dataclass(frozen=True)
class NameKeys:
    """Display form and keys of one name field; parts are None when it could not be split."""

    display: str | None
    key: str | None
    surname: str | None
    given: str | None
    unmapped_gaiji: tuple[str, ...] = ()


class _CjkCharacters(dict[str, bool]):
    """Whether a character is a CJK ideograph (or stroke, radical), looked up once per character."""

    def __missing__(self, ch: str) -> bool:
        is_cjk = unicodedata.name(ch, "").startswith("CJK")
        self[ch] = is_cjk
        return is_cjk


def _has_cjk(text: str, characters: _CjkCharacters) -> bool:
    return any(map(characters.__getitem__, text))


def kanji_name_keys(
    text: str, gaiji_map: Mapping[str, str] | None, surnames: SurnameDictionary
) -> NameKeys:
    """Keys of a kanji full name; all None for an empty field."""
    try:
        whole = normalize_kanji_name(text, gaiji_map)
    except ValueError:
        return NameKeys(None, None, None, None)
    parts = split_kanji_name(whole.display, surnames)
    surname = given = None
    if parts is not None:
        try:
            surname = normalize_kanji_name(parts[0], gaiji_map).key
            given = normalize_kanji_name(parts[1], gaiji_map).key
        except ValueError:
            surname = given = None
    return NameKeys(whole.display, whole.key, surname, given, whole.unmapped_gaiji)


def kana_name_keys(text: str, kanji_surname: str | None, surnames: SurnameDictionary) -> NameKeys:
    """Keys of a kana full name; all None for an empty field."""
    try:
        display = kana_display(text)
        key = normalize_kana_name(text)
    except ValueError:
        return NameKeys(None, None, None, None)
    parts = split_kana_name(key, display, kanji_surname, surnames)
    if parts is None:
        return NameKeys(display, key, None, None)
    return NameKeys(display, key, parts[0], parts[1])


def _swap_fields(kanji: str, kana: str, cjk: _CjkCharacters) -> tuple[str, str]:
    """Undo a kana name typed into the kanji field and a kanji name into the kana field."""
    kana_in_kanji_field = bool(kanji.strip()) and _KANA_CHARS_RE.match(kanji) is not None
    kanji_in_kana_field = _has_cjk(kana, cjk)
    if kanji_in_kana_field and (not kanji.strip() or kana_in_kanji_field):
        return kana, kanji
    if kana_in_kanji_field and not kana.strip():
        # A name registered in katakana only (many foreign residents) is also its own kana.
        return kanji, kanji
    return kanji, kana


def _address_keys(text: str) -> tuple[str | None, str | None]:
    try:
        address = normalize_address(text)
    except ValueError:
        return None, None
    key = _PREFECTURE_RE.sub("", address.key)
    return address.display, key or None


@dataclass
class _Normaliser:
    """Name keys with a per-run memo: one spelling turns up in many sources and years."""

    gaiji_maps: GaijiMaps
    surnames: SurnameDictionary
    kanji_memo: dict[tuple[str, str], NameKeys] = field(default_factory=dict)
    kana_memo: dict[tuple[str, str | None], NameKeys] = field(default_factory=dict)
    address_memo: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)

    def kanji(self, municipality: str, text: str) -> NameKeys:
        keys = self.kanji_memo.get((municipality, text))
        if keys is None:
            keys = kanji_name_keys(text, self.gaiji_maps.get(municipality), self.surnames)
            self.kanji_memo[municipality, text] = keys
        return keys

    def kana(self, text: str, kanji_surname: str | None) -> NameKeys:
        keys = self.kana_memo.get((text, kanji_surname))
        if keys is None:
            keys = kana_name_keys(text, kanji_surname, self.surnames)
            self.kana_memo[text, kanji_surname] = keys
        return keys

    def address(self, text: str) -> tuple[str | None, str | None]:
        keys = self.address_memo.get(text)
        if keys is None:
            keys = _address_keys(text)
            self.address_memo[text] = keys
        return keys


def _history_keys(
    normaliser: _Normaliser,
    municipality: str,
    names: list[str],
    kana_names: list[str],
    current: NameKeys,
    current_kana: NameKeys,
) -> tuple[list[str], list[str], list[str], list[str]]:
    """Full-name, surname and kana surname keys of earlier names, and their unreadable 外字.

    Keys equal to the current ones are left out. Earlier kana surnames come from the kana history
    and, where a source kept only the kanji, from the dictionary readings of the earlier kanji
    surname (中村 -> ナカムラ).
    """
    full: dict[str, None] = {}
    surname: dict[str, None] = {}
    surname_kana: dict[str, None] = {}
    unmapped: dict[str, None] = {}
    for name in names:
        keys = normaliser.kanji(municipality, name)
        unmapped.update(dict.fromkeys(keys.unmapped_gaiji))
        if keys.key is not None and keys.key != current.key:
            full[keys.key] = None
        if keys.surname is not None and keys.surname != current.surname:
            surname[keys.surname] = None
            for reading in normaliser.surnames.readings.get(keys.surname, ()):
                surname_kana[reading] = None
    for name in kana_names:
        kana = normaliser.kana(name, None)
        if kana.surname is not None:
            surname_kana[kana.surname] = None
    surname_kana.pop(current_kana.surname or "", None)
    return list(full), list(surname), list(surname_kana), list(unmapped)


def comparison_keys(records: pd.DataFrame, gaiji_maps: GaijiMaps) -> pd.DataFrame:
    """Mimamori's key builder: the records with display forms and comparison keys added.

    `records` must be validated identity records; `gaiji_maps` maps a municipality code to its
    外字 map. Pure: the same records and maps always give the same keys.
    """
    normaliser = _Normaliser(gaiji_maps, load_surnames())
    cjk = _CjkCharacters()
    rows: dict[str, list[object]] = {column: [] for column in KEY_COLUMNS}
    # Plain lists: iterating Arrow-backed string columns value by value is slow.
    for municipality, raw_kanji, raw_kana, address, history, kana_history in zip(
        records["municipality"].tolist(),
        records["name_kanji"].tolist(),
        records["name_kana"].tolist(),
        records["address"].tolist(),
        records["name_history"].tolist(),
        records["name_kana_history"].tolist(),
        strict=True,
    ):
        kanji_text, kana_text = _swap_fields(raw_kanji, raw_kana, cjk)
        kanji = normaliser.kanji(municipality, kanji_text)
        kana = normaliser.kana(kana_text, kanji.surname)
        history_full, history_surname, history_surname_kana, history_unmapped = _history_keys(
            normaliser, municipality, list(history), list(kana_history), kanji, kana
        )
        address_display, address_key = normaliser.address(address)
        unmapped = dict.fromkeys((*kanji.unmapped_gaiji, *history_unmapped))
        values: dict[str, object] = {
            "name_display": kanji.display,
            "name_key": kanji.key,
            "surname_key": kanji.surname,
            "given_key": kanji.given,
            "kana_display": kana.display,
            "kana_key": kana.key,
            "surname_kana_key": kana.surname,
            "given_kana_key": kana.given,
            "history_name_keys": history_full,
            "history_surname_keys": history_surname,
            "history_surname_kana_keys": history_surname_kana,
            "address_display": address_display,
            "address_key": address_key,
            "unmapped_gaiji": [f"U+{ord(ch):04X}" for ch in unmapped],
        }
        for column, value in values.items():
            rows[column].append(value)
    keys = pd.DataFrame(rows, index=records.index)
    return pd.concat([records, keys], axis=1)
