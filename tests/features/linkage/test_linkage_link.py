"""Hand-built linkage cases: each one a situation municipal data really produces."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest
from pydantic import ValidationError

from features.linkage import DecisionConflictError, Thresholds, link_records
from features.linkage.config import load_linkage_settings
from features.linkage.keys import comparison_keys
from features.linkage.model import default_memory_limit, score_pairs
from features.linkage.records import validate_identity_records
from features.settings import Settings

KEY = b"mimamori-test-key-0123456789abcdef"
OTHER_KEY = b"another-test-key-fedcba9876543210"
TOWN = "架空県桜ヶ丘市本町一丁目2番3号"
SCHOOL_TOWN = "桜ヶ丘市本町1-2-3"
OTHER_CITY = "架空県緑川市南町三丁目5番1号"

RecordFactory = Callable[..., dict[str, Any]]
FrameFactory = Callable[..., pd.DataFrame]


def _one_person(mapping: pd.DataFrame) -> bool:
    return len(set(mapping["person_id"])) == 1


def _people(result_mapping: pd.DataFrame) -> dict[str, str]:
    return dict(zip(result_mapping["record_key"], result_mapping["person_id"], strict=True))


def _twins(make_record: RecordFactory, make_frame: FrameFactory) -> pd.DataFrame:
    return make_frame(
        make_record("990001", "registry", "atena", "1000000001", kanji="髙橋　陽菜",
                    kana="タカハシ　ヒナ", born="2018-05-01", sex="F", address=TOWN,
                    household="H1"),
        make_record("990001", "registry", "atena", "1000000002", kanji="髙橋　結衣",
                    kana="タカハシ　ユイ", born="2018-05-01", sex="F", address=TOWN,
                    household="H1"),
        make_record("990001", "school_register", "pupil", "7000001", kanji="高橋陽菜",
                    kana="たかはし　ひな", born="2018-05-01", sex="F", address=SCHOOL_TOWN),
        make_record("990001", "school_register", "pupil", "7000002", kanji="高橋　結衣",
                    kana="ﾀｶﾊｼ ﾕｲ", born="2018-05-01", sex="F", address=SCHOOL_TOWN),
        make_record("990001", "infant_checkup", "child_record", "C0000001",
                    kana="たかはし ひな", born="2018-05-01"),
        make_record("990001", "registry", "atena", "1000000003", kanji="髙橋　真一",
                    kana="タカハシ　シンイチ", born="1985-02-03", sex="M", address=TOWN,
                    household="H1", role="adult"),
    )  # fmt: skip


def test_twins_are_not_merged(make_record: RecordFactory, make_frame: FrameFactory) -> None:
    result = link_records(_twins(make_record, make_frame), key=KEY)
    person = _people(result.mapping)

    hina, yui = "990001:registry:atena:1000000001", "990001:registry:atena:1000000002"
    assert person[hina] != person[yui]
    assert person["990001:school_register:pupil:7000001"] == person[hina]
    assert person["990001:infant_checkup:child_record:C0000001"] == person[hina]
    assert person["990001:school_register:pupil:7000002"] == person[yui]
    assert person["990001:registry:atena:1000000003"] not in (person[hina], person[yui])
    assert result.report.twin_guard_blocked > 0
    assert result.review_queue.empty


def test_twins_without_kana_on_one_side_go_to_review(
    make_record: RecordFactory, make_frame: FrameFactory
) -> None:
    # Same date of birth and address, no kana on one side and given names one character
    # apart: a typo or a twin, which only a person can tell.
    frame = make_frame(
        make_record("990001", "registry", "atena", "1000000001", kanji="佐藤　翔太",
                    kana="サトウ　ショウタ", born="2016-07-07", sex="M", address=TOWN),
        make_record("990001", "school_register", "pupil", "7000001", kanji="佐藤　翔大",
                    born="2016-07-07", sex="M", address=SCHOOL_TOWN),
    )  # fmt: skip
    result = link_records(frame, key=KEY, thresholds=Thresholds(link=0.95, review_lower=0.01))
    person = _people(result.mapping)

    assert (
        person["990001:registry:atena:1000000001"] != person["990001:school_register:pupil:7000001"]
    )
    assert result.review_queue["reason"].tolist() == ["twin_check"]


def test_a_family_moving_to_another_municipality_is_followed(
    make_record: RecordFactory, make_frame: FrameFactory
) -> None:
    frame = make_frame(
        make_record("990001", "registry", "atena", "1000000001", kanji="渡邊　蓮",
                    kana="ワタナベ　レン", born="2015-03-09", sex="M", address=TOWN,
                    household="H1"),
        make_record("990002", "registry", "atena", "2000000001", kanji="渡辺 蓮",
                    kana="ワタナベ　レン", born="2015-03-09", sex="M", address=OTHER_CITY,
                    household="H9"),
        make_record("990002", "school_register", "pupil", "8000001", kanji="渡辺蓮",
                    kana="わたなべ れん", born="2015-03-09", sex="M", address="緑川市南町3-5-1"),
        # Born the same day in the town moved to, a different boy.
        make_record("990002", "registry", "atena", "2000000002", kanji="岡田　大和",
                    kana="オカダ　ヤマト", born="2015-03-09", sex="M", address=OTHER_CITY,
                    household="H7"),
    )  # fmt: skip
    result = link_records(frame, key=KEY)
    person = _people(result.mapping)

    mover = person["990001:registry:atena:1000000001"]
    assert person["990002:registry:atena:2000000001"] == mover
    assert person["990002:school_register:pupil:8000001"] == mover
    assert person["990002:registry:atena:2000000002"] != mover
    households = result.households[result.households["person_id"] == mover]
    assert sorted(households["household_key"]) == ["990001:H1", "990002:H9"]
    persons = result.persons.set_index("person_id")
    assert persons.at[mover, "municipalities"] == ["990001", "990002"]


def test_a_surname_change_after_divorce_keeps_the_child(
    make_record: RecordFactory, make_frame: FrameFactory
) -> None:
    frame = make_frame(
        # The registry shows the new surname and keeps the old one in its history.
        make_record("990001", "registry", "atena", "1000000001", kanji="中川　千央",
                    kana="ナカガワ　チヒロ", born="2019-06-24", sex="F", address=TOWN,
                    history=["中村 千央"]),
        # The school register was written before the change.
        make_record("990001", "school_register", "pupil", "7000001", kanji="中村千央",
                    kana="なかむら　ちひろ", born="2019-06-24", sex="F", address=SCHOOL_TOWN),
        # The checkup kept only the old kana: the history's 中村 is read ナカムラ.
        make_record("990001", "infant_checkup", "child_record", "C0000001",
                    kana="ナカムラ　チヒロ", born="2019-06-24"),
    )  # fmt: skip
    result = link_records(frame, key=KEY)

    assert _one_person(result.mapping)
    assert set(result.mapping["method"]) == {"probabilistic"}


def test_old_kanji_width_and_script_variants_are_one_person(
    make_record: RecordFactory, make_frame: FrameFactory
) -> None:
    frame = make_frame(
        make_record("990001", "registry", "atena", "1000000001", kanji="髙橋　翔太",
                    kana="タカハシ　ショウタ", born="2012-11-30", sex="M", address=TOWN),
        make_record("990001", "school_register", "pupil", "7000001", kanji="高橋翔太",
                    kana="ﾀｶﾊｼ ｼｮｳﾀ", born="2012-11-30", sex="M", address=SCHOOL_TOWN),
        make_record("990001", "infant_checkup", "child_record", "C0000001",
                    kana="たかはし　しょうた", born="2012-11-30"),
    )  # fmt: skip
    result = link_records(frame, key=KEY)

    assert _one_person(result.mapping)


def test_an_unmapped_gaiji_neither_blocks_a_link(
    make_record: RecordFactory, make_frame: FrameFactory
) -> None:
    frame = make_frame(
        make_record("990001", "registry", "atena", "1000000001", kanji="\ue0ff橋　花子",
                    kana="タカハシ　ハナコ", born="2014-01-15", sex="F", address=TOWN),
        make_record("990001", "school_register", "pupil", "7000001", kanji="高橋 花子",
                    kana="たかはし はなこ", born="2014-01-15", sex="F", address=SCHOOL_TOWN),
    )  # fmt: skip
    result = link_records(frame, key=KEY, gaiji_maps={"990001": {"\ue000": "髙"}})

    assert _one_person(result.mapping)
    assert result.report.unmapped_gaiji_records == 1
    assert result.report.unmapped_gaiji_characters == ("U+E0FF",)


def _surname_weight(
    make_record: RecordFactory, make_frame: FrameFactory, left: str, right: str
) -> float:
    frame = make_frame(
        make_record("990001", "registry", "atena", "1", kanji=left, born="2014-01-15"),
        make_record("990001", "school_register", "pupil", "2", kanji=right, born="2014-01-15"),
    )
    keys = comparison_keys(validate_identity_records(frame), {})
    pairs = score_pairs(keys, load_linkage_settings(), threshold=0.0).pairs
    return float(pairs["match_weight"].iloc[0])


def test_an_unmapped_gaiji_neither_matches_nor_mismatches(
    make_record: RecordFactory, make_frame: FrameFactory
) -> None:
    same = _surname_weight(make_record, make_frame, "高橋 花子", "高橋 花子")
    unknown = _surname_weight(make_record, make_frame, "\ue0ff橋 花子", "高橋 花子")
    both_unknown = _surname_weight(make_record, make_frame, "\ue0ff橋 花子", "\ue0ff橋 花子")
    different = _surname_weight(make_record, make_frame, "石田 花子", "高橋 花子")

    assert same > unknown > different
    # Two unreadable characters are not known to be the same character.
    assert both_unknown == pytest.approx(unknown)


def test_a_rejected_pair_stays_apart_in_the_next_run(
    make_record: RecordFactory, make_frame: FrameFactory
) -> None:
    frame = make_frame(
        make_record("990001", "registry", "atena", "1000000001", kanji="佐藤　花",
                    kana="サトウ　ハナ", born="2016-02-02", sex="F", address=TOWN),
        make_record("990002", "registry", "atena", "2000000001", kanji="佐藤　花",
                    kana="サトウ　ハナ", born="2016-02-02", sex="F", address=OTHER_CITY),
    )  # fmt: skip
    first = link_records(frame, key=KEY)
    assert _one_person(first.mapping)

    decisions = pd.DataFrame(
        {
            "record_key_l": ["990002:registry:atena:2000000001"],
            "record_key_r": ["990001:registry:atena:1000000001"],
            "decision": ["reject"],
        }
    )
    second = link_records(frame, key=KEY, decisions=decisions)

    assert len(set(second.mapping["person_id"])) == 2
    assert second.report.decisions["rejected"] == 1
    assert second.review_queue.empty


def test_an_accepted_pair_is_forced_together(
    make_record: RecordFactory, make_frame: FrameFactory
) -> None:
    frame = make_frame(
        make_record("990001", "registry", "atena", "1000000001", kanji="山田　太郎",
                    born="2010-04-04", sex="M", address=TOWN),
        make_record("990001", "school_register", "pupil", "7000001", kanji="鈴木　一郎",
                    born="2011-05-05", sex="M", address=SCHOOL_TOWN),
    )  # fmt: skip
    decisions = pd.DataFrame(
        {
            "record_key_l": ["990001:registry:atena:1000000001"],
            "record_key_r": ["990001:school_register:pupil:7000001"],
            "decision": ["accept"],
        }
    )
    result = link_records(frame, key=KEY, decisions=decisions)

    assert _one_person(result.mapping)
    assert set(result.mapping["method"]) == {"clerical"}
    assert result.report.links_by_method["clerical"] == 1


def test_decisions_against_a_shared_id_are_refused(
    make_record: RecordFactory, make_frame: FrameFactory
) -> None:
    frame = make_frame(
        make_record("990001", "registry", "atena", "1000000001", kanji="山田　太郎",
                    born="2010-04-04", sex="M"),
        make_record("990001", "tax", "atena", "1000000001", kanji="山田　太郎", born="2010-04-04"),
    )  # fmt: skip
    decisions = pd.DataFrame(
        {
            "record_key_l": ["990001:registry:atena:1000000001"],
            "record_key_r": ["990001:tax:atena:1000000001"],
            "decision": ["reject"],
        }
    )
    with pytest.raises(DecisionConflictError):
        link_records(frame, key=KEY, decisions=decisions)


def test_uncertain_pairs_wait_for_a_reviewer(
    make_record: RecordFactory, make_frame: FrameFactory
) -> None:
    # Moved and changed surname, and the new town does not know the old name.
    frame = make_frame(
        make_record("990001", "registry", "atena", "1000000001", kanji="佐々木　律子",
                    kana="ササキ　リツコ", born="2021-05-06", sex="F", address=TOWN),
        make_record("990002", "registry", "atena", "2000000001", kanji="稲葉　律子",
                    kana="イナバ　リツコ", born="2021-05-06", sex="F", address=OTHER_CITY),
    )  # fmt: skip
    result = link_records(frame, key=KEY)

    assert len(set(result.mapping["person_id"])) == 2
    assert len(result.review_queue) == 1
    row = result.review_queue.iloc[0]
    assert row["reason"] == "uncertain"
    assert {row["name_display_l"], row["name_display_r"]} == {"佐々木 律子", "稲葉 律子"}
    assert 0.5 <= row["match_probability"] < 0.95

    lenient = link_records(frame, key=KEY, thresholds=Thresholds(link=0.5, review_lower=0.1))
    assert _one_person(lenient.mapping)


def test_pseudonyms_are_stable_keyed_and_opaque(
    make_record: RecordFactory, make_frame: FrameFactory
) -> None:
    frame = _twins(make_record, make_frame)
    first = _people(link_records(frame, key=KEY).mapping)
    shuffled = frame.sample(frac=1.0, random_state=3).reset_index(drop=True)
    again = _people(link_records(shuffled, key=KEY).mapping)
    other = _people(link_records(frame, key=OTHER_KEY).mapping)

    assert again == first
    assert set(other.values()).isdisjoint(first.values())
    assert not any("1000000001" in person_id for person_id in first.values())

    # A record joining a person later does not change the person's pseudonym.
    extra = make_record(
        "990001", "school_register", "pupil", "7999999", kanji="高橋 真一",
        kana="タカハシ シンイチ", born="1985-02-03", sex="M", address=SCHOOL_TOWN,
    )  # fmt: skip
    grown = _people(link_records(pd.concat([frame, make_frame(extra)]), key=KEY).mapping)
    father = "990001:registry:atena:1000000003"
    assert grown[father] == first[father] == grown["990001:school_register:pupil:7999999"]


def test_a_short_key_is_refused(make_record: RecordFactory, make_frame: FrameFactory) -> None:
    with pytest.raises(ValueError, match="at least"):
        link_records(_twins(make_record, make_frame), key=b"short")


def test_mothers_are_linked_to_their_children(
    make_record: RecordFactory, make_frame: FrameFactory
) -> None:
    mother = "990001:pregnancy:maternal_record:M0000001"
    frame = make_frame(
        make_record("990001", "registry", "atena", "1000000001", kanji="森　紀子",
                    kana="モリ　ノリコ", born="1983-06-20", sex="F", address=TOWN, role="adult"),
        make_record("990001", "registry", "atena", "1000000002", kanji="森　章文",
                    kana="モリ　アキフミ", born="2023-09-28", sex="M", address=TOWN),
        make_record("990001", "pregnancy", "maternal_record", "M0000001", kanji="森 紀子",
                    kana="もり のりこ", born="1983-06-20", sex="F", address="桜ヶ丘市本町1-2-3",
                    role="adult"),
        make_record("990001", "birth", "child_record", "C0000001", kanji="森　章文",
                    kana="モリ　アキフミ", born="2023-09-28", sex="M", mother=mother),
        make_record("990001", "infant_checkup", "child_record", "C0000001", kana="もり あきふみ",
                    born="2023-09-28"),
    )  # fmt: skip
    result = link_records(frame, key=KEY)
    person = _people(result.mapping)

    child, parent = person["990001:registry:atena:1000000002"], person[mother]
    assert person["990001:registry:atena:1000000001"] == parent
    assert person["990001:infant_checkup:child_record:C0000001"] == child
    links = result.family_links
    assert links[["child_person_id", "mother_person_id"]].to_numpy().tolist() == [[child, parent]]
    methods = result.mapping.set_index("record_key")["method"]
    assert methods["990001:infant_checkup:child_record:C0000001"] == "deterministic"
    roles = result.persons.set_index("person_id")["role"]
    assert roles[child] == "child"
    assert roles[parent] == "adult"


def test_without_the_twin_guard_twins_burden_reviewers(
    make_record: RecordFactory, make_frame: FrameFactory, tmp_path: Path
) -> None:
    # Surname, date of birth and address agree: the scores alone leave twins undecided.
    settings = json.loads(
        (resources.files("features.linkage") / "settings" / "linkage_v1.json").read_text("utf-8")
    )
    settings["twin_guard"] = False
    path = tmp_path / "no_guard.json"
    path.write_text(json.dumps(settings, ensure_ascii=False), encoding="utf-8")

    result = link_records(_twins(make_record, make_frame), key=KEY, settings_path=path)

    assert not result.review_queue.empty
    births = result.review_queue[["birth_date_l", "birth_date_r"]]
    assert (births == pd.Timestamp("2018-05-01")).all().all()
    assert result.report.settings_sha256 != load_linkage_settings().sha256


def test_default_memory_limit_is_a_share_of_the_machine_in_duckdb_notation() -> None:
    total_mib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
    limit = default_memory_limit(0.4)
    assert limit.endswith("MiB")
    assert abs(int(limit.removesuffix("MiB")) - 0.4 * total_mib) <= 1


def test_a_memory_limit_bounds_duckdb_and_scores_the_same(
    make_record: RecordFactory, make_frame: FrameFactory
) -> None:
    records = make_frame(
        make_record("990001", "registry", "atena", "1", kanji="高橋 花子", born="2014-01-15"),
        make_record(
            "990001", "school_register", "pupil", "2", kanji="高橋 花子", born="2014-01-15"
        ),
    )
    keys = comparison_keys(validate_identity_records(records), {})
    settings = load_linkage_settings()
    bounded = score_pairs(keys, settings, threshold=0.0, memory_limit="300MiB").pairs
    default = score_pairs(keys, settings, threshold=0.0).pairs
    pd.testing.assert_frame_equal(bounded, default)
    with pytest.raises(duckdb.Error):
        score_pairs(keys, settings, threshold=0.0, memory_limit="not a size")


@pytest.mark.parametrize("limit", ["8GB", "8192MiB", "1.5 GiB"])
def test_the_settings_take_a_memory_size(limit: str) -> None:
    assert Settings(link_memory_limit=limit).link_memory_limit == limit


@pytest.mark.parametrize("limit", ["8", "lots", "8GB'; DROP TABLE x; --"])
def test_the_settings_refuse_anything_but_a_memory_size(limit: str) -> None:
    with pytest.raises(ValidationError, match="link_memory_limit"):
        Settings(link_memory_limit=limit)
