from __future__ import annotations

import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from features.normalize import (
    UNKNOWN_CHAR,
    NormalizedName,
    kana_display,
    kanji_variant_table,
    load_gaiji_map,
    normalize_kana_name,
    normalize_kanji_name,
    split_full_name,
)

REPO_ROOT = Path(__file__).resolve().parents[3]

REQUIRED_FOLDS = [
    ("髙", "高"),
    ("﨑", "崎"),
    ("嵜", "崎"),
    ("邊", "辺"),
    ("邉", "辺"),
    ("齋", "斎"),
    ("齊", "斎"),
    ("斉", "斎"),
    ("濱", "浜"),
    ("澤", "沢"),
    ("櫻", "桜"),
    ("廣", "広"),
    ("國", "国"),
    ("嶋", "島"),
    ("嶌", "島"),
    ("冨", "富"),
    ("德", "徳"),
    ("惠", "恵"),
    ("眞", "真"),
    ("邨", "村"),
    ("槇", "槙"),
    ("𠮷", "吉"),
]

HIRAGANA = [chr(code) for code in range(0x3041, 0x3097)]  # ぁ..ゖ


# --- the variant table -------------------------------------------------------------------


def test_variant_table_is_large_enough() -> None:
    assert len(kanji_variant_table()) >= 60


@pytest.mark.parametrize(("variant", "canonical"), REQUIRED_FOLDS)
def test_required_folds(variant: str, canonical: str) -> None:
    assert kanji_variant_table()[variant] == canonical
    assert normalize_kanji_name(variant).key == canonical


@pytest.mark.parametrize("character", ["龍", "竜", "埼", "籐", "凜", "遙"])
def test_unsafe_folds_are_absent(character: str) -> None:
    assert character not in kanji_variant_table()


def test_tatsusaki_does_not_become_sai() -> None:
    assert normalize_kanji_name("宮﨑").key == "宮崎"
    assert normalize_kanji_name("埼玉").key == "埼玉"


def test_every_fold_survives_nfkc_and_has_no_chain() -> None:
    table = kanji_variant_table()
    for variant, canonical in table.items():
        # A variant NFKC rewrites would never be seen, because the key is NFKC'd first.
        assert unicodedata.normalize("NFKC", variant) == variant
        assert unicodedata.normalize("NFKC", canonical) == canonical
        assert canonical not in table


def test_variant_table_is_read_lazily_and_is_read_only() -> None:
    probe = "import features.normalize as n; print(n.kanji_variant_table.cache_info().currsize)"
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "0"
    with pytest.raises(TypeError):
        kanji_variant_table()["髙"] = "x"  # type: ignore[index]


# --- kanji names --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "display"),
    [
        ("山田\u3000太郎", "山田 太郎"),
        ("山田  太郎", "山田 太郎"),
        ("山田\t太郎", "山田 太郎"),
        ("  山田 太郎\u3000", "山田 太郎"),
        ("山田太郎", "山田太郎"),
        ("ﾔﾏﾀﾞ ﾀﾛｳ", "ヤマダ タロウ"),
        ("ＳＭＩＴＨ　ＪＯＨＮ", "SMITH JOHN"),
        ("山\u200b田 太郎", "山田 太郎"),
        ("\ufeff山田 太郎", "山田 太郎"),
    ],
)
def test_kanji_display(text: str, display: str) -> None:
    assert normalize_kanji_name(text).display == display


@pytest.mark.parametrize(
    "text",
    [
        "髙橋 太郎",
        "高橋　太郎",
        "髙橋太郎",
        " 高橋  太郎 ",
        "髙\ufe00橋 太郎",
        "高\U000e0100橋太郎",
    ],
)
def test_kanji_spellings_share_a_key(text: str) -> None:
    assert normalize_kanji_name(text).key == "高橋太郎"


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("渡邊 一郎", "渡辺一郎"),
        ("渡邉 一郎", "渡辺一郎"),
        ("齋藤 眞", "斎藤真"),
        ("齊藤 惠", "斎藤恵"),
        ("斉藤", "斎藤"),
        ("濱田 德子", "浜田徳子"),
        ("櫻井 廣", "桜井広"),
        ("大嶋 國男", "大島国男"),
        ("𠮷田", "吉田"),
        ("Smith John", "SMITHJOHN"),
        ("ｽﾐｽ･ｼﾞｮﾝ", "スミスジョン"),
        ("一ヶ谷", "一ケ谷"),
    ],
)
def test_kanji_keys(text: str, key: str) -> None:
    assert normalize_kanji_name(text).key == key


def test_compatibility_ideograph_keeps_its_glyph_for_display_only() -> None:
    old_kami = "\ufa19"  # 神 as a CJK compatibility ideograph
    result = normalize_kanji_name(old_kami + "田")
    assert result.display == old_kami + "田"
    assert result.key == "神田"


def test_variation_selectors_stay_in_display_but_not_in_key() -> None:
    result = normalize_kanji_name("葛\U000e0100飾 太郎")
    assert result.display == "葛\U000e0100飾 太郎"
    assert result.key == "葛飾太郎"


def test_unmapped_gaiji_is_reported_and_kept_as_unknown() -> None:
    result = normalize_kanji_name("山田\ue001子 \ue002\ue001")
    assert result.display == "山田\ue001子 \ue002\ue001"
    assert result.key == "山田?子??"
    assert result.unmapped_gaiji == ("\ue001", "\ue002")


def test_unknown_placeholder_is_ascii() -> None:
    key = normalize_kanji_name("\ue000").key
    assert key == UNKNOWN_CHAR == "?"
    assert "\uff1f" not in key


@pytest.mark.parametrize("unknown", ["〓", "\ufffd", "\U000f0001"])
def test_other_unknown_characters_are_reported(unknown: str) -> None:
    result = normalize_kanji_name(f"山{unknown}太郎")
    assert result.key == "山?太郎"
    assert result.unmapped_gaiji == (unknown,)


def test_gaiji_differs_from_a_name_without_it() -> None:
    assert normalize_kanji_name("髙〓").key != normalize_kanji_name("髙").key


def test_gaiji_map_replaces_and_then_folds() -> None:
    result = normalize_kanji_name("\ue001橋 \ue002郎", {"\ue001": "髙"})
    assert result == NormalizedName(
        display="髙橋 \ue002郎", key="高橋?郎", unmapped_gaiji=("\ue002",)
    )


@pytest.mark.parametrize("text", ["", "   ", "\u3000", "\ufe00", "・", "\u200b"])
def test_empty_kanji_name_is_rejected(text: str) -> None:
    with pytest.raises(ValueError, match="empty name"):
        normalize_kanji_name(text)


@given(st.text(alphabet="髙高橋邊渡辺山田 \u3000太郎ｱｲ\ue001〓\ufe00ａＢ・", min_size=1))
def test_kanji_key_is_stable_under_renormalisation(text: str) -> None:
    try:
        first = normalize_kanji_name(text)
    except ValueError:
        return
    assert normalize_kanji_name(first.display).key == first.key
    assert normalize_kanji_name(first.key).key == first.key
    assert not any(ch.isspace() for ch in first.key)
    assert len(first.unmapped_gaiji) == len(set(first.unmapped_gaiji))


# --- kana names ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "やまだ たろう",
        "ヤマダ タロウ",
        "ヤマダ\u3000タロウ",
        "ﾔﾏﾀﾞ ﾀﾛｳ",
        "ﾔﾏﾀﾞﾀﾛｳ",
        "やまだ・たろう",
        "ヤマタ\u3099 タロウ",
        "ヤマタ゛ タロウ",
    ],
)
def test_kana_spellings_share_a_key(text: str) -> None:
    assert normalize_kana_name(text) == "ヤマダタロウ"


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("キョウコ", "キヨウコ"),
        ("きょうこ", "キヨウコ"),
        ("ｷｮｳｺ", "キヨウコ"),
        ("ハットリ", "ハツトリ"),
        ("ファン", "フアン"),
        ("クヮ", "クワ"),
        ("ㇰ", "ク"),
        ("サトー", "サトー"),
        ("サトｰ", "サトー"),
        ("サト－", "サトー"),
        ("サト‐", "サトー"),
        ("サト-", "サトー"),
        ("さとー", "サトー"),
        ("ヴィクトル", "ヴイクトル"),
        ("ゔぃくとる", "ヴイクトル"),
        ("スミス・ジョン", "スミスジヨン"),
        ("ｽﾐｽ･ｼﾞｮﾝ", "スミスジヨン"),
        ("smith john", "SMITHJOHN"),
    ],
)
def test_kana_keys(text: str, key: str) -> None:
    assert normalize_kana_name(text) == key


def test_vu_is_not_folded_to_bu() -> None:
    assert normalize_kana_name("ヴ") != normalize_kana_name("ブ")


@pytest.mark.parametrize(
    ("text", "display"),
    [
        ("やまだ　きょうこ", "ヤマダ キョウコ"),
        ("ﾔﾏﾀﾞ  ｷｮｳｺ", "ヤマダ キョウコ"),
        ("さとー たろう", "サトー タロウ"),
        (" スミス・ジョン ", "スミス・ジョン"),
    ],
)
def test_kana_display(text: str, display: str) -> None:
    assert kana_display(text) == display


@pytest.mark.parametrize("text", ["", "  ", "\u3000", "・"])
def test_empty_kana_name_is_rejected(text: str) -> None:
    with pytest.raises(ValueError, match="empty name"):
        normalize_kana_name(text)


@pytest.mark.parametrize("text", ["", " \u3000 ", "・ ･"])
def test_empty_kana_display_is_rejected(text: str) -> None:
    with pytest.raises(ValueError, match="empty name"):
        kana_display(text)


KANA_ALPHABET = (
    "".join(HIRAGANA)
    + "".join(chr(code) for code in range(0x30A1, 0x30FB))
    + "ｦｧｨｩｪｫｬｭｮｯｰｱｲｳｴｵｶｷｸｹｺﾀﾁﾂﾃﾄﾊﾋﾌﾍﾎﾞﾟ"
    + "ー－‐ｰ・･ \u3000゛゜"
)


@given(st.text(alphabet=KANA_ALPHABET, min_size=1, max_size=20))
def test_kana_key_is_idempotent(text: str) -> None:
    try:
        key = normalize_kana_name(text)
    except ValueError:
        return
    assert normalize_kana_name(key) == key


@given(st.text(alphabet=KANA_ALPHABET, min_size=1, max_size=20))
def test_kana_key_of_the_display_is_the_key(text: str) -> None:
    try:
        display = kana_display(text)
    except ValueError:
        return
    assert normalize_kana_name(display) == normalize_kana_name(text)


@given(st.lists(st.sampled_from(HIRAGANA), min_size=1, max_size=12))
def test_hiragana_and_katakana_give_the_same_key(chars: list[str]) -> None:
    hiragana = "".join(chars)
    # Katakana is hiragana shifted by 0x60; built here independently of jaconv.
    katakana = "".join(chr(ord(ch) + 0x60) for ch in chars)
    assert normalize_kana_name(hiragana) == normalize_kana_name(katakana)


# --- splitting ----------------------------------------------------------------------------

SURNAMES = frozenset({"山", "山田", "東", "東海林", "高橋", "佐藤", "ヤマダ"})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("山田 太郎", ("山田", "太郎")),
        ("山田\u3000太郎", ("山田", "太郎")),
        ("  山田   太郎 ", ("山田", "太郎")),
        ("SMITH JOHN  PAUL", ("SMITH", "JOHN PAUL")),
        ("知らない 名前", ("知らない", "名前")),
        ("山田太郎", ("山田", "太郎")),
        ("東海林太郎", ("東海林", "太郎")),
        ("東太郎", ("東", "太郎")),
        ("髙橋花子", ("髙橋", "花子")),
        ("ヤマダタロウ", ("ヤマダ", "タロウ")),
        ("ﾔﾏﾀﾞﾀﾛｳ", ("ﾔﾏﾀﾞ", "ﾀﾛｳ")),
    ],
)
def test_split_full_name(text: str, expected: tuple[str, str]) -> None:
    assert split_full_name(text, SURNAMES) == expected


@pytest.mark.parametrize("text", ["鈴木一郎", "佐藤", "", "   "])
def test_split_full_name_without_a_known_surname(text: str) -> None:
    assert split_full_name(text, SURNAMES) is None


def test_split_never_cuts_before_a_sound_mark() -> None:
    # ﾔﾏﾀ is a known surname here, but ﾀﾞ is one kana: cutting there would strand the ﾞ.
    assert split_full_name("ﾔﾏﾀﾞﾀﾛｳ", {"ﾔﾏﾀ"}) is None


# --- 外字 maps ----------------------------------------------------------------------------


def write(tmp_path: Path, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / "gaiji.csv"
    path.write_text(text, encoding=encoding)
    return path


def test_load_gaiji_map(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "codepoint,replacement,note\nU+E001,髙,はしごだか\n\nu+e002 , 﨑 ,\nU+F0001,𠮷,plane 15\n",
    )
    assert load_gaiji_map(path) == {"\ue001": "髙", "\ue002": "﨑", "\U000f0001": "𠮷"}


def test_load_gaiji_map_accepts_a_bom(tmp_path: Path) -> None:
    path = write(tmp_path, "codepoint,replacement,note\nU+E001,髙,\n", encoding="utf-8-sig")
    assert load_gaiji_map(str(path)) == {"\ue001": "髙"}


@pytest.mark.parametrize(
    ("body", "line", "reason"),
    [
        ("U+E001,髙\n", 2, "expected 3 columns"),
        ("U+E001,髙,a,b\n", 2, "expected 3 columns"),
        ("E001,髙,\n", 2, "code point must look like"),
        ("U+ZZZZ,髙,\n", 2, "code point must look like"),
        ("U+4E00,一,\n", 2, "not a private-use"),
        ("U+FFFFFF,一,\n", 2, "not a private-use"),
        ("U+E001,,\n", 2, "empty replacement"),
        ("U+E001,\ue002,\n", 2, "unknown character"),
        ("U+E001,〓,\n", 2, "unknown character"),
        ("U+E001,髙,\nU+E002,﨑,\nU+E001,高,\n", 4, "listed twice"),
    ],
)
def test_load_gaiji_map_names_the_bad_line(
    tmp_path: Path, body: str, line: int, reason: str
) -> None:
    path = write(tmp_path, "codepoint,replacement,note\n" + body)
    with pytest.raises(ValueError, match=f"line {line}: .*{reason}"):
        load_gaiji_map(path)


@pytest.mark.parametrize("text", ["", "U+E001,髙,\n", "code,replacement,note\n"])
def test_load_gaiji_map_requires_the_header(tmp_path: Path, text: str) -> None:
    with pytest.raises(ValueError, match="line 1: header"):
        load_gaiji_map(write(tmp_path, text))


def test_loaded_map_feeds_the_kanji_key(tmp_path: Path) -> None:
    gaiji = load_gaiji_map(write(tmp_path, "codepoint,replacement,note\nU+E001,髙,\n"))
    mapped = normalize_kanji_name("\ue001橋 太郎", gaiji)
    assert mapped.key == normalize_kanji_name("高橋 太郎").key
    assert mapped.unmapped_gaiji == ()


def test_the_translate_tables_match_their_per_character_definitions() -> None:
    from features.normalize import names

    invisible = names._invisible_characters()
    spaces = names._space_and_middle_dots()
    for code in range(0x3100):  # ASCII, Latin-1, general punctuation, specials, kana
        ch = chr(code)
        dropped = not ch.isspace() and unicodedata.category(ch) in ("Cc", "Cf")
        assert (code in invisible) == dropped
        assert (code in spaces) == (ch.isspace() or ch in "・·")
    for ch in "\ufeff\u200b\u200d\u2060\U000e0001":
        assert ord(ch) in invisible
    assert names._drop_invisible("山\u200b田\t太\ufeff郎") == "山田\t太郎"
