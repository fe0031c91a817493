from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from features.normalize import NormalizedAddress, normalize_address

KANJI_DIGITS = "〇一二三四五六七八九"


def to_kanji(number: int) -> str:
    """Counting-style kanji numeral for 1..999, written independently of the code under test."""
    hundreds, rest = divmod(number, 100)
    tens, ones = divmod(rest, 10)
    parts = []
    if hundreds:
        parts.append(("" if hundreds == 1 else KANJI_DIGITS[hundreds]) + "百")
    if tens:
        parts.append(("" if tens == 1 else KANJI_DIGITS[tens]) + "十")
    if ones:
        parts.append(KANJI_DIGITS[ones])
    return "".join(parts)


@pytest.mark.parametrize(
    "text",
    [
        "1丁目2番3号",
        "1-2-3",
        "１－２－３",
        "1丁目2-3",
        "一丁目２番地の３",
        "一丁目二番地の三",
        "一丁目二番三号",
        "1丁目2番地3号",
        "1丁目2番の3",
        "1丁目2番地ノ3",
        "1丁目 2番 3号",
        "1ー2ー3",
        "1ｰ2ｰ3",
        "1‐2‐3",
        "1−2−3",
        "1―2―3",
        "1–2–3",
        "1 - 2 - 3",
    ],
)
def test_block_notations_share_a_key(text: str) -> None:
    assert normalize_address(text).key == "1-2-3"
    assert normalize_address("千代田区千代田" + text).key == "千代田区千代田1-2-3"


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("本町一丁目", "本町1"),
        ("本町十二番", "本町12"),
        ("本町二十三号", "本町23"),
        ("本町百二十三番地", "本町123"),
        ("本町百二十三番地の四", "本町123-4"),
        ("本町123", "本町123"),
        ("本町 123番地", "本町123"),
        ("本町十二番二十三号", "本町12-23"),
    ],
)
def test_kanji_numerals_become_arabic(text: str, key: str) -> None:
    assert normalize_address(text).key == key


@pytest.mark.parametrize(
    ("text", "key", "building"),
    [
        ("本町1丁目2番3号 サンハイツ201号室", "本町1-2-3", "サンハイツ201号室"),
        ("本町1-2-3サンハイツ201号室", "本町1-2-3", "サンハイツ201号室"),
        ("本町1-2-3 〇〇マンション 3F", "本町1-2-3", "〇〇マンション 3F"),
        ("本町1-2-3　〇〇マンション　３Ｆ", "本町1-2-3", "〇〇マンション 3F"),
        ("本町1-2-3 101号", "本町1-2-3", "101号"),
        ("本町1丁目2番3号101号", "本町1-2-3", "101号"),
        ("本町1-2-3-101", "本町1-2-3", "101"),
        ("本町1丁目2-3-405", "本町1-2-3", "405"),
        ("本町12番地 3F", "本町12", "3F"),
        ("本町1-2 コーポ本町", "本町1-2", "コーポ本町"),
        ("本町1-2-3", "本町1-2-3", ""),
    ],
)
def test_building_part_is_split_off(text: str, key: str, building: str) -> None:
    result = normalize_address(text)
    assert (result.key, result.building) == (key, building)


def test_display_is_the_cleaned_address_without_the_building() -> None:
    result = normalize_address("東京都　千代田区  千代田一丁目２番地の３　サンハイツ２０１号室")
    assert result == NormalizedAddress(
        display="東京都 千代田区 千代田1丁目2番地の3",
        key="東京都千代田区千代田1-2-3",
        building="サンハイツ201号室",
    )


@pytest.mark.parametrize(
    "text",
    ["大字松原字東123番地", "松原字東123", "大字松原東123", "松原東 123", "松原 東 123番地"],
)
def test_aza_prefixes_and_spaces_are_dropped_from_the_key(text: str) -> None:
    assert normalize_address(text).key == "松原東123"


def test_long_vowel_mark_is_kept_inside_words() -> None:
    result = normalize_address("本町1-2 コーポー1")
    assert result.building == "コーポー1"
    assert normalize_address("センター町1-2").key == "センター町1-2"


@pytest.mark.parametrize(
    ("text", "key"),
    [
        # 番町/番丁 are town names, not block numbers.
        ("一番町1-2", "一番町1-2"),
        ("北一番丁3-4", "北一番丁3-4"),
        # 札幌's 条 names an area; the block starts at 丁目.
        ("北一条西二丁目3-4", "北1条西2-3-4"),
        ("北1条西2丁目3番4号", "北1条西2-3-4"),
        ("第2地割123番地4", "第2地割123-4"),
        ("霞ヶ関1-2", "霞ケ関1-2"),
        ("宮﨑町1-2", "宮崎町1-2"),
    ],
)
def test_numbers_in_town_names(text: str, key: str) -> None:
    assert normalize_address(text).key == key


def test_address_without_a_block_keeps_everything_in_the_key() -> None:
    result = normalize_address("大字松原 字東")
    assert result == NormalizedAddress(display="大字松原 字東", key="松原東", building="")


@pytest.mark.parametrize("text", ["", "   ", "\u3000", "\u200b"])
def test_empty_address_is_rejected(text: str) -> None:
    with pytest.raises(ValueError, match="empty address"):
        normalize_address(text)


NUMBER = st.integers(min_value=1, max_value=999)


@given(NUMBER, NUMBER, NUMBER, st.sampled_from(["", "千代田区", "大字松原字"]))
def test_every_notation_of_a_block_gives_one_key(chome: int, ban: int, go: int, town: str) -> None:
    full = str.maketrans("0123456789-", "０１２３４５６７８９－")
    notations = [
        f"{chome}丁目{ban}番{go}号",
        f"{chome}-{ban}-{go}",
        f"{chome}-{ban}-{go}".translate(full),
        f"{chome}丁目{ban}-{go}",
        f"{to_kanji(chome)}丁目{str(ban).translate(full)}番地の{str(go).translate(full)}",
        f"{to_kanji(chome)}丁目{to_kanji(ban)}番{to_kanji(go)}号",
        f"{chome}ー{ban}ー{go}",
    ]
    keys = {normalize_address(town + notation).key for notation in notations}
    assert len(keys) == 1
    assert keys.pop().endswith(f"{chome}-{ban}-{go}")


@given(st.text(alphabet="本町大字一二三丁目番地号の1234567890-－ー　 サンハイツ室F", min_size=1))
def test_key_has_no_whitespace_and_is_stable(text: str) -> None:
    try:
        result = normalize_address(text)
    except ValueError:
        return
    assert not any(ch.isspace() for ch in result.key)
    if not result.building:
        assert normalize_address(result.display).key == result.key
