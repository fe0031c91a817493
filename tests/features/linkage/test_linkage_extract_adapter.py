"""Identity records read straight from departmental CSV extracts."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from features.linkage import (
    gaiji_maps_from_extracts,
    identity_records_from_extracts,
    read_extract_identities,
)
from features.linkage.records import IDENTITY_RECORD_COLUMNS

CODE = "990009"


def _write(root: Path, relative: str, header: str, rows: list[str], encoding: str) -> None:
    """Rows are written with | between fields, which keeps the long test rows readable."""
    path = root / CODE / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [header, *(row.replace("|", ",") for row in rows)]
    path.write_text("\r\n".join(lines) + "\r\n", encoding=encoding)


@pytest.fixture
def extracts(tmp_path: Path) -> Path:
    root = tmp_path / "extracts"
    root.mkdir()
    manifest = {"municipalities": [{"code": CODE, "name": "試験町", "encoding": "cp932"}]}
    (root / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False), "utf-8")
    (root / CODE).mkdir()
    (root / CODE / "gaiji_map.csv").write_text(
        "codepoint,replacement,note\nU+E000,髙,「高」の異体字\n", encoding="utf-8"
    )
    _write(
        root,
        "registry/jumin.csv",
        "宛名番号,世帯番号,氏名,氏名カナ,生年月日,性別,続柄,住所,方書,国籍,異動事由,住定日,届出日,消除日",
        [
            "0000000001|11|中村　千央|ナカムラ　チヒロ|令和元年6月24日|2|子"
            "|試験町本町一丁目1番1号||日本|出生|令和元年6月24日|令和元年6月30日|",
            "0000000001|22|中村 千央|ナカムラ　チヒロ|令和元年6月24日|2|子"
            "|試験町栄町二丁目2番2号|ハイツ栄101|日本|転居|令和3年5月1日|令和3年5月3日|",
            "0000000001|22|中村 千央|ナカムラ　チヒロ|令和元年6月24日|2|子"
            "|試験町栄町二丁目2番2号|ハイツ栄101|日本|転居|令和3年5月1日|令和3年5月3日|",
            "0000000002|22|\ue000橋　一郎|タカハシ　イチロウ|令和3年2月30日|1|世帯主"
            "|試験町栄町二丁目2番2号||日本|既存|令和3年1月1日|令和3年1月1日|",
            "0000000002|22|\ue000橋　一郎|タカハシ　イチロウ|昭和60年1月2日|1|世帯主"
            "|試験町栄町二丁目2番2号||日本|既存|令和4年1月1日|令和4年1月1日|",
            "0000000003|33|山田　花子|ヤマダ　ハナコ|令和3年2月30日|2|妻"
            "|試験町本町一丁目1番1号||日本|既存|令和3年1月1日|令和3年1月1日|",
            "|33|山田　太郎|ヤマダ　タロウ|昭和50年1月1日|1|世帯主"
            "|試験町本町一丁目1番1号||日本|既存|令和3年1月1日|令和3年1月1日|",
        ],
        "cp932",
    )
    _write(
        root,
        "registry/shimei_henko.csv",
        "宛名番号,異動事由,新氏名,新氏名カナ,変更理由,異動日,届出日",
        [
            "0000000001,氏名変更,中川　千央,ナカガワ　チヒロ,離婚,令和4年1月10日,令和4年1月20日",
            "0000000099,氏名変更,誰　某,ダレ　ソレ,離婚,令和4年1月10日,令和4年1月20日",
        ],
        "cp932",
    )
    _write(
        root,
        "school_register/gakuseki.csv",
        "児童生徒番号,年度,学校種別,学年,氏名,氏名カナ,生年月日,性別,住所,在籍開始日",
        [
            "1234567|2025|小学校|1|中川千央|なかがわ　ちひろ|2019/6/24|女"
            "|試験町栄町2-2-2|2025-04-08",
            "1234567|2024|小学校|1|中村千央|ﾅｶﾑﾗ ﾁﾋﾛ|R1.6.24|女|試験町栄町2-2-2|2024-04-08",
        ],
        "cp932",
    )
    _write(
        root,
        "pregnancy/ninshin_todokede.csv",
        "母子記録番号,母氏名,母氏名カナ,母生年月日,住所,届出日,届出時妊娠週数,出産予定日",
        [
            "M00000001,中村 美咲,なかむら みさき,H02.11.05,試験町本町1-1-1,R01.01.10,8,R01.07.01",
            "M00000001,中川　美咲,ナカガワ　ミサキ,H02.11.05,試験町栄町2-2-2,R05.01.10,9,R05.08.01",
        ],
        "cp932",
    )
    _write(
        root,
        "birth/shussei.csv",
        "子記録番号,母子記録番号,子氏名,子氏名カナ,生年月日,性別,出生体重,登録日",
        [
            "C00000001,M00000001,中村　千央,ナカムラ　チヒロ,R01.06.24,女,2900,R01.07.01",
            "C00000002,M99999999,佐藤　一,サトウ　ハジメ,R05.08.03,男,3100,R05.08.20",
        ],
        "cp932",
    )
    _write(
        root,
        "infant_checkup/nyuyoji_kenshin.csv",
        "子記録番号,子氏名カナ,生年月日,健診区分,対象年月,受診状況,受診日,把握日",
        [
            "C00000001,なかむら ちひろ,R01.06.24,4か月児健診,2019/10,受診,R01.10.20,R01.12.01",
            "C00000001,ナカガワ　チヒロ,R01.06.24,3歳児健診,2022/06,受診,R04.06.20,R04.08.01",
            ",ダレ,R01.06.24,3歳児健診,2022/06,受診,R04.06.20,R04.08.01",
        ],
        "cp932",
    )
    return root


def test_repeated_rows_collapse_into_identity_records(extracts: Path) -> None:
    result = read_extract_identities(extracts)
    records = result.records.set_index("record_key")

    assert list(result.records.columns[: len(IDENTITY_RECORD_COLUMNS)]) == [
        spec.name for spec in IDENTITY_RECORD_COLUMNS
    ]
    assert sorted(records.index) == [
        "990009:birth:child_record:C00000001",
        "990009:birth:child_record:C00000002",
        "990009:infant_checkup:child_record:C00000001",
        "990009:pregnancy:maternal_record:M00000001",
        "990009:registry:atena:0000000001",
        "990009:registry:atena:0000000002",
        "990009:school_register:pupil:1234567",
    ]
    child = records.loc["990009:registry:atena:0000000001"]
    assert child["name_kanji"] == "中川　千央"  # the 氏名変更 is the latest name
    assert child["name_kana"] == "ナカガワ　チヒロ"
    assert child["name_history"] == ["中村　千央", "中村 千央"]
    assert child["name_kana_history"] == ["ナカムラ　チヒロ"]
    assert child["address"] == "試験町栄町二丁目2番2号 ハイツ栄101"
    assert child["household_key"] == "990009:22"
    assert (child["role"], child["sex"]) == ("child", "F")
    assert child["birth_date"] == pd.Timestamp("2019-06-24")

    pupil = records.loc["990009:school_register:pupil:1234567"]
    assert (pupil["name_kanji"], pupil["name_history"]) == ("中川千央", ["中村千央"])

    mother = records.loc["990009:pregnancy:maternal_record:M00000001"]
    assert (mother["name_kanji"], mother["sex"], mother["role"]) == ("中川　美咲", "F", "adult")
    assert mother["address"] == "試験町栄町2-2-2"

    checkup = records.loc["990009:infant_checkup:child_record:C00000001"]
    assert (checkup["name_kanji"], checkup["name_kana"]) == ("", "ナカガワ　チヒロ")
    assert checkup["sex"] == "U"


def test_the_birth_record_points_at_the_mother(extracts: Path) -> None:
    records = read_extract_identities(extracts).records.set_index("record_key")

    assert (
        records.at["990009:birth:child_record:C00000001", "mother_record_key"]
        == "990009:pregnancy:maternal_record:M00000001"
    )
    assert records.at["990009:birth:child_record:C00000002", "mother_record_key"] == ""


def test_unreadable_rows_are_skipped_and_counted(extracts: Path) -> None:
    result = read_extract_identities(extracts)

    # An impossible birth date on one row of 0000000002 leaves its other row; 0000000003 had
    # only that row; the row without 宛名番号 and the checkup without 子記録番号 go too.
    assert result.skipped_rows == {
        f"{CODE}/infant_checkup/nyuyoji_kenshin.csv": 1,
        f"{CODE}/registry/jumin.csv": 3,
    }
    assert result.notes == {
        "births_without_pregnancy_record": 1,
        "name_changes_without_registry_row": 1,
    }
    adult = result.records.set_index("record_key").loc["990009:registry:atena:0000000002"]
    assert adult["birth_date"] == pd.Timestamp("1985-01-02")
    assert adult["name_kanji"] == "\ue000橋　一郎"  # raw: the 外字 is mapped at linkage


def test_the_frame_form_carries_the_counts(extracts: Path) -> None:
    records = identity_records_from_extracts(extracts)
    assert records.attrs["skipped_rows"][f"{CODE}/registry/jumin.csv"] == 3


def test_gaiji_maps_are_read_per_municipality(extracts: Path) -> None:
    assert gaiji_maps_from_extracts(extracts) == {CODE: {"\ue000": "髙"}}


def test_a_generated_population_reads_with_only_the_injected_defects_skipped(
    tiny_population: Path,
) -> None:
    result = read_extract_identities(tiny_population / "extracts")
    defects = pd.read_parquet(tiny_population / "ground_truth" / "defects.parquet")
    impossible = defects[defects["defect"] == "impossible_date"].groupby("file").size()

    assert result.skipped_rows == impossible.to_dict()
    assert set(result.records["source"]) == {
        "registry",
        "school_register",
        "pregnancy",
        "birth",
        "infant_checkup",
    }
