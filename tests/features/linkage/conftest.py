"""Builders for hand-made identity records, shared by the linkage tests."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd
import pytest

from features.linkage.records import record_key

RecordFactory = Callable[..., dict[str, Any]]
FrameFactory = Callable[..., pd.DataFrame]


def _record(
    municipality: str,
    source: str,
    id_kind: str,
    local_id: str,
    *,
    kanji: str = "",
    kana: str = "",
    born: str | None = None,
    sex: str = "U",
    address: str = "",
    household: str = "",
    role: str = "child",
    history: Sequence[str] = (),
    kana_history: Sequence[str] = (),
    mother: str = "",
) -> dict[str, Any]:
    return {
        "record_key": record_key(municipality, source, id_kind, local_id),
        "municipality": municipality,
        "source": source,
        "id_kind": id_kind,
        "local_id": local_id,
        "name_kanji": kanji,
        "name_kana": kana,
        "birth_date": pd.Timestamp(born) if born else pd.NaT,
        "sex": sex,
        "address": address,
        "household_key": f"{municipality}:{household}" if household else "",
        "role": role,
        "name_history": list(history),
        "name_kana_history": list(kana_history),
        "mother_record_key": mother,
    }


@pytest.fixture
def make_record() -> RecordFactory:
    """make_record(municipality, source, id_kind, local_id, kanji=..., kana=..., born=...)."""
    return _record


@pytest.fixture
def make_frame() -> Callable[..., pd.DataFrame]:
    def build(*rows: dict[str, Any]) -> pd.DataFrame:
        return pd.DataFrame(list(rows))

    return build
