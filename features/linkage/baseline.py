"""A baseline key builder: Unicode NFKC and nothing Japanese-specific.

It measures what Mimamori's normalisation buys. NFKC folds width (ﾀｶﾊｼ -> タカハシ, １ -> 1) but
not old kanji forms (髙 stays 髙), hiragana and katakana, 外字 (each municipality's private-use
code stays as it is) or address notations (一丁目 stays), and names split only at a space.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final

import pandas as pd

from features.linkage.keys import KEY_COLUMNS, GaijiMaps

__all__ = ["nfkc_only_keys"]

_SPACE_RE: Final = re.compile(r"\s+")


def _nfkc(text: str) -> str | None:
    folded = unicodedata.normalize("NFKC", text).strip()
    return _SPACE_RE.sub(" ", folded) or None


def _parts(display: str | None) -> tuple[str | None, str | None]:
    if display is None:
        return None, None
    parts = display.split(" ", 1)
    if len(parts) != 2:
        return None, None
    return parts[0], parts[1]


def _key(display: str | None) -> str | None:
    return None if display is None else display.replace(" ", "")


def nfkc_only_keys(records: pd.DataFrame, gaiji_maps: GaijiMaps) -> pd.DataFrame:
    """The records with NFKC-only keys; `gaiji_maps` is ignored on purpose."""
    del gaiji_maps
    rows: dict[str, list[object]] = {column: [] for column in KEY_COLUMNS}
    for kanji_text, kana_text, address, history in zip(
        records["name_kanji"].tolist(),
        records["name_kana"].tolist(),
        records["address"].tolist(),
        records["name_history"].tolist(),
        strict=True,
    ):
        kanji = _nfkc(kanji_text)
        kana = _nfkc(kana_text)
        surname, given = _parts(kanji)
        surname_kana, given_kana = _parts(kana)
        earlier = [_nfkc(name) for name in history]
        address_display = _nfkc(address)
        values: dict[str, object] = {
            "name_display": kanji,
            "name_key": _key(kanji),
            "surname_key": surname,
            "given_key": given,
            "kana_display": kana,
            "kana_key": _key(kana),
            "surname_kana_key": surname_kana,
            "given_kana_key": given_kana,
            "history_name_keys": [k for k in (_key(n) for n in earlier) if k],
            "history_surname_keys": [s for s in (_parts(n)[0] for n in earlier) if s],
            "history_surname_kana_keys": [],
            "address_display": address_display,
            "address_key": _key(address_display),
            "unmapped_gaiji": [],
        }
        for column, value in values.items():
            rows[column].append(value)
    return pd.concat([records, pd.DataFrame(rows, index=records.index)], axis=1)
