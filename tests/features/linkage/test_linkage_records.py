"""The identity-record schema and its validator."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pandas as pd
import pytest

from features.linkage.records import (
    IDENTITY_RECORD_COLUMNS,
    IdentityRecordsError,
    record_key,
    validate_identity_records,
)

RecordFactory = Callable[..., dict[str, Any]]
FrameFactory = Callable[..., pd.DataFrame]


def _frame(make_record: RecordFactory, make_frame: FrameFactory) -> pd.DataFrame:
    return make_frame(
        make_record("990001", "registry", "atena", "1", kanji="森 紀子", born="1983-06-20"),
        make_record("990001", "school_register", "pupil", "2", kanji="森 章文"),
    )


def test_a_good_frame_comes_back_canonical(
    make_record: RecordFactory, make_frame: FrameFactory
) -> None:
    frame = _frame(make_record, make_frame)
    frame["name_history"] = [("森 のり子",), None]
    frame.loc[1, "address"] = None
    frame = frame.drop(columns=["mother_record_key", "name_kana_history"])

    checked = validate_identity_records(frame)

    assert [spec.name for spec in IDENTITY_RECORD_COLUMNS] == list(checked.columns[:13])
    assert checked["name_history"].tolist() == [["森 のり子"], []]
    assert checked["name_kana_history"].tolist() == [[], []]
    assert checked["mother_record_key"].tolist() == ["", ""]
    assert checked.at[1, "address"] == ""
    assert checked["birth_date"].isna().tolist() == [False, True]


def test_python_dates_are_accepted(make_record: RecordFactory, make_frame: FrameFactory) -> None:
    frame = _frame(make_record, make_frame)
    frame["birth_date"] = [dt.date(1983, 6, 20), None]
    assert validate_identity_records(frame).at[0, "birth_date"] == pd.Timestamp("1983-06-20")


def test_the_record_key_names_municipality_source_kind_and_id() -> None:
    assert record_key("990001", "registry", "atena", "1234567890") == (
        "990001:registry:atena:1234567890"
    )


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("id_kind", "passport", "id_kind: values outside"),
        ("sex", "X", "sex: values outside"),
        ("role", "parent", "role: values outside"),
        ("local_id", "", "local_id: empty"),
        ("birth_date", "1983-06-20", "birth_date: values that are not dates"),
        ("name_history", "森 紀子", "name_history: not a list"),
        ("mother_record_key", "990001:pregnancy:maternal_record:M1", "mother_record_key"),
    ],
)
def test_problems_are_named_without_values(
    make_record: RecordFactory, make_frame: FrameFactory, column: str, value: object, message: str
) -> None:
    frame = _frame(make_record, make_frame)
    frame[column] = frame[column].astype(object)
    frame.at[0, column] = value
    with pytest.raises(IdentityRecordsError, match=message) as raised:
        validate_identity_records(frame)
    assert "森" not in str(raised.value)


def test_duplicates_and_missing_columns_are_refused(
    make_record: RecordFactory, make_frame: FrameFactory
) -> None:
    frame = _frame(make_record, make_frame)
    with pytest.raises(IdentityRecordsError, match="record_key: duplicated"):
        validate_identity_records(pd.concat([frame, frame.iloc[[0]]], ignore_index=True))
    with pytest.raises(IdentityRecordsError, match="missing columns: sex"):
        validate_identity_records(frame.drop(columns=["sex"]))
