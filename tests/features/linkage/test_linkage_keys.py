"""Comparison keys: three forms of each field, name splitting, 外字, addresses."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
import pytest

from features.linkage.baseline import nfkc_only_keys
from features.linkage.keys import (
    KEY_COLUMNS,
    GaijiMaps,
    comparison_keys,
    kana_name_keys,
    kanji_name_keys,
)
from features.linkage.records import validate_identity_records
from features.linkage.surnames import load_surnames, parse_surnames, split_kanji_name

RecordFactory = Callable[..., dict[str, Any]]
FrameFactory = Callable[..., pd.DataFrame]


def _keys(
    make_record: RecordFactory,
    make_frame: FrameFactory,
    gaiji_maps: GaijiMaps | None = None,
    **fields: Any,
) -> pd.Series:
    frame = make_frame(make_record("990001", "registry", "atena", "1", **fields))
    return comparison_keys(validate_identity_records(frame), gaiji_maps or {}).iloc[0]


def test_the_shipped_surname_list_is_read() -> None:
    surnames = load_surnames()

    assert len(surnames.kanji) > 2000
    assert {"佐藤", "高橋", "渡辺", "渡邊", "グエン"} <= surnames.kanji
    assert "タカハシ" in surnames.readings["高橋"]
    assert "キム" in surnames.readings["金"]


def test_a_surname_list_line_needs_a_reading() -> None:
    with pytest.raises(ValueError, match="line 2"):
        parse_surnames("# comment\n佐藤\n")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("高橋 太郎", ("高橋", "太郎")),
        ("高橋太郎", ("高橋", "太郎")),
        ("髙橋太郎", ("髙橋", "太郎")),  # the old form is found through its folded form
        ("太郎　高橋", ("高橋", "太郎")),  # written given name first
        ("長谷川里恵子", ("長谷川", "里恵子")),
    ],
)
def test_names_are_split_with_the_dictionary(text: str, expected: tuple[str, str]) -> None:
    assert split_kanji_name(text, load_surnames()) == expected


def test_a_name_with_an_unreadable_gaiji_still_splits_where_every_surname_agrees() -> None:
    assert split_kanji_name("\ue0ff橋花子", load_surnames()) == ("\ue0ff橋", "花子")


def test_old_forms_and_widths_share_one_key() -> None:
    surnames = load_surnames()
    registry = kanji_name_keys("髙橋　翔太", None, surnames)
    school = kanji_name_keys("高橋翔太", None, surnames)

    assert (registry.key, registry.surname, registry.given) == ("高橋翔太", "高橋", "翔太")
    assert (school.key, school.surname, school.given) == (registry.key, "高橋", "翔太")
    assert registry.display == "髙橋 翔太"  # the display keeps the registered form


@pytest.mark.parametrize(
    "kana", ["タカハシ　ショウタ", "ﾀｶﾊｼ ｼｮｳﾀ", "たかはし しょうた", "タカハシショウタ"]
)
def test_kana_scripts_and_widths_share_one_key(kana: str) -> None:
    keys = kana_name_keys(kana, "高橋", load_surnames())
    assert (keys.key, keys.surname, keys.given) == ("タカハシシヨウタ", "タカハシ", "シヨウタ")


def test_the_three_forms_of_each_field(
    make_record: RecordFactory, make_frame: FrameFactory
) -> None:
    row = _keys(
        make_record,
        make_frame,
        kanji="渡邊　蓮",
        kana="ﾜﾀﾅﾍﾞ ﾚﾝ",
        address="架空県桜ヶ丘市富士見一丁目7番4号 グリーンヒル富303",
    )

    assert row["name_kanji"] == "渡邊　蓮"
    assert row["name_display"] == "渡邊 蓮"
    assert row["name_key"] == "渡辺蓮"
    assert row["kana_display"] == "ワタナベ レン"
    assert row["kana_key"] == "ワタナベレン"
    assert row["address_display"] == "架空県桜ヶ丘市富士見1丁目7番4号"
    # The prefecture is dropped because schools often leave it out.
    assert row["address_key"] == "桜ケ丘市富士見1-7-4"
    assert set(KEY_COLUMNS) <= set(row.index)


def test_a_mapped_gaiji_is_replaced_and_an_unmapped_one_reported(
    make_record: RecordFactory, make_frame: FrameFactory
) -> None:
    mapped = _keys(make_record, make_frame, {"990001": {"\ue005": "髙"}}, kanji="\ue005橋　花子")
    unmapped = _keys(make_record, make_frame, {"990001": {"\ue005": "髙"}}, kanji="\ue0ff橋　花子")

    assert (mapped["name_key"], mapped["unmapped_gaiji"]) == ("高橋花子", [])
    assert unmapped["name_key"] == "?橋花子"
    assert unmapped["surname_key"] == "?橋"
    assert unmapped["unmapped_gaiji"] == ["U+E0FF"]


def test_a_gaiji_map_belongs_to_its_municipality(
    make_record: RecordFactory, make_frame: FrameFactory
) -> None:
    row = _keys(make_record, make_frame, {"990002": {"\ue005": "髙"}}, kanji="\ue005橋　花子")
    assert row["unmapped_gaiji"] == ["U+E005"]


def test_earlier_names_give_earlier_surnames_in_kanji_and_kana(
    make_record: RecordFactory, make_frame: FrameFactory
) -> None:
    row = _keys(
        make_record,
        make_frame,
        kanji="中川　千央",
        kana="ナカガワ　チヒロ",
        history=["中村 千央", "中川千央"],
        kana_history=["ナカムラ　チヒロ"],
    )

    assert row["history_name_keys"] == ["中村千央"]
    assert row["history_surname_keys"] == ["中村"]
    assert row["history_surname_kana_keys"] == ["ナカムラ"]


def test_kana_typed_into_the_kanji_field_is_used_as_kana(
    make_record: RecordFactory, make_frame: FrameFactory
) -> None:
    row = _keys(make_record, make_frame, kanji="グエン　アン")
    assert (row["kana_key"], row["surname_kana_key"], row["given_kana_key"]) == (
        "グエンアン",
        "グエン",
        "アン",
    )


def test_fields_typed_into_each_other_are_swapped_back(
    make_record: RecordFactory, make_frame: FrameFactory
) -> None:
    row = _keys(make_record, make_frame, kanji="サトウ ハナ", kana="佐藤 花")
    assert (row["name_key"], row["kana_key"]) == ("佐藤花", "サトウハナ")


def test_empty_fields_give_no_keys(make_record: RecordFactory, make_frame: FrameFactory) -> None:
    row = _keys(make_record, make_frame)
    assert row[["name_key", "surname_key", "kana_key", "address_key"]].isna().all()


def test_the_nfkc_baseline_folds_width_only(
    make_record: RecordFactory, make_frame: FrameFactory
) -> None:
    frame = make_frame(
        make_record("990001", "registry", "atena", "1", kanji="髙橋　翔太", kana="ﾀｶﾊｼ ｼｮｳﾀ")
    )
    row = nfkc_only_keys(validate_identity_records(frame), {}).iloc[0]

    assert (row["name_key"], row["surname_key"]) == ("髙橋翔太", "髙橋")
    assert row["kana_key"] == "タカハシショウタ"
    assert set(KEY_COLUMNS) <= set(row.index)
