import csv
import re
import unicodedata
from pathlib import Path

import numpy as np
import pytest

from synthetic.names import load_name_tables, sample_given_names, sample_surnames
from synthetic.notation import (
    DATE_STYLES,
    OLD_FORM_KANJI,
    TYPO_KANJI,
    YEAR_MONTH_STYLES,
    GaijiTable,
    apply_gaiji,
    format_dates,
    format_year_months,
    make_gaiji_table,
    render_kana_names,
    render_kanji_names,
)

FW = "\u3000"
KANJI_DEFAULTS = {
    "p_old_form": 0.0,
    "p_space_fullwidth": 1.0,
    "p_space_half": 0.0,
    "p_no_space": 0.0,
    "p_typo": 0.0,
}
KANA_DEFAULTS = {"p_hiragana": 0.0, "p_halfwidth": 0.0, "p_missing": 0.0, "p_space_variants": 0.0}


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def is_private_use(ch: str) -> bool:
    return 0xE000 <= ord(ch) <= 0xF8FF


# --- tables --------------------------------------------------------------------------------------


def test_old_forms_are_cp932_and_distinct() -> None:
    assert OLD_FORM_KANJI["高"] == "髙"
    assert "\ufa11" in OLD_FORM_KANJI["崎"]
    assert set(OLD_FORM_KANJI["辺"]) == {"邊", "邉"}
    for new, olds in OLD_FORM_KANJI.items():
        new.encode("cp932")
        assert olds
        for old in olds:
            old.encode("cp932")
            assert old != new


def test_typos_are_cp932_and_not_old_forms() -> None:
    for ch, alts in TYPO_KANJI.items():
        ch.encode("cp932")
        for alt in alts:
            alt.encode("cp932")
            assert alt != ch
            assert alt not in OLD_FORM_KANJI.get(ch, "")
            assert unicodedata.normalize("NFKC", alt) != unicodedata.normalize("NFKC", ch)


# --- kanji names ---------------------------------------------------------------------------------


def test_separators() -> None:
    sur, giv = ["山田"] * 3, ["太郎"] * 3
    assert render_kanji_names(sur, giv, rng(), **KANJI_DEFAULTS) == ["山田\u3000太郎"] * 3
    half = {**KANJI_DEFAULTS, "p_space_fullwidth": 0.0, "p_space_half": 1.0}
    assert render_kanji_names(sur, giv, rng(), **half) == ["山田 太郎"] * 3
    none = {**KANJI_DEFAULTS, "p_space_fullwidth": 0.0, "p_no_space": 1.0}
    assert render_kanji_names(sur, giv, rng(), **none) == ["山田太郎"] * 3


def test_separator_mix_and_validation() -> None:
    n = 20_000
    mix = {**KANJI_DEFAULTS, "p_space_fullwidth": 0.6, "p_space_half": 0.3, "p_no_space": 0.1}
    out = render_kanji_names(["山田"] * n, ["花子"] * n, rng(), **mix)
    assert sum(FW in s for s in out) / n == pytest.approx(0.6, abs=0.02)
    assert sum(" " in s for s in out) / n == pytest.approx(0.3, abs=0.02)
    bad = {**KANJI_DEFAULTS, "p_space_half": 0.5}
    with pytest.raises(ValueError, match="sum to 1"):
        render_kanji_names(["山田"], ["花子"], rng(), **bad)
    with pytest.raises(ValueError, match="length"):
        render_kanji_names(["山田"], ["花子", "太郎"], rng(), **KANJI_DEFAULTS)


def test_old_form_rate() -> None:
    n = 20_000
    surnames = np.array(["高橋", "渡辺", "斎藤", "山田"] * (n // 4), dtype=object)
    # Varied given names, since the variant (渡邊 or 渡邉) is fixed per person.
    given = np.array(["花子", "太郎", "一郎", "健", "明美"] * (n // 5), dtype=object)
    args = {**KANJI_DEFAULTS, "p_old_form": 0.3}
    out = render_kanji_names(surnames, given, rng(3), **args)
    sur_out = [s.split(FW)[0] for s in out]
    eligible = surnames != "山田"
    changed = np.array([a != b for a, b in zip(sur_out, surnames.tolist(), strict=True)])
    assert changed[eligible].mean() == pytest.approx(0.3, abs=0.02)
    assert not changed[~eligible].any()
    assert [s.split(FW)[1] for s in out] == given.tolist()
    seen = {s for s, c in zip(sur_out, changed.tolist(), strict=True) if c}
    assert seen <= {"髙橋", "渡邊", "渡邉", "齋藤", "齊藤"}
    assert {"髙橋", "渡邊", "渡邉"} <= seen


def test_old_form_variant_is_stable_per_person() -> None:
    surnames = ["渡辺", "高島", "渡辺", "斎藤"]
    given = ["太郎", "花子", "一郎", "健"]
    args = {**KANJI_DEFAULTS, "p_old_form": 1.0}
    a = render_kanji_names(surnames, given, rng(1), **args)
    b = render_kanji_names(surnames, given, rng(2), **args)
    assert a == b
    assert all(x.split(FW)[0] != s for x, s in zip(a, surnames, strict=True))


def test_typo_touches_only_given_name() -> None:
    n = 2000
    args = {**KANJI_DEFAULTS, "p_typo": 1.0}
    out = render_kanji_names(["高橋"] * n, ["太郎"] * n, rng(4), **args)
    for s in out:
        sur, giv = s.split(FW)
        assert sur == "高橋"
        diffs = [(a, b) for a, b in zip("太郎", giv, strict=True) if a != b]
        assert len(diffs) == 1
        assert diffs[0][1] in TYPO_KANJI[diffs[0][0]]
    untouched = render_kanji_names(["高橋"], ["翔"], rng(), **args)
    assert untouched == ["高橋\u3000翔"]
    rare = render_kanji_names(["高橋"] * n, ["太郎"] * n, rng(5), **{**args, "p_typo": 0.05})
    assert sum(s != "高橋\u3000太郎" for s in rare) / n == pytest.approx(0.05, abs=0.015)


def test_kanji_rendering_is_reproducible() -> None:
    args = {
        "p_old_form": 0.5,
        "p_space_fullwidth": 0.5,
        "p_space_half": 0.3,
        "p_no_space": 0.2,
        "p_typo": 0.2,
    }
    sur, giv = ["高橋", "渡辺", "佐藤"] * 50, ["太郎", "明美", "結衣"] * 50
    assert render_kanji_names(sur, giv, rng(9), **args) == render_kanji_names(
        sur, giv, rng(9), **args
    )


# --- kana names ----------------------------------------------------------------------------------


def test_kana_default_is_katakana_with_fullwidth_space() -> None:
    out = render_kana_names(["サトウ"], ["タロウ"], rng(), **KANA_DEFAULTS)
    assert out == ["サトウ\u3000タロウ"]
    # Hiragana input is accepted and normalised.
    assert render_kana_names(["さとう"], ["たろう"], rng(), **KANA_DEFAULTS) == out


def test_kana_scripts() -> None:
    hira = render_kana_names(["サトウ"], ["ヴァン"], rng(), **{**KANA_DEFAULTS, "p_hiragana": 1})
    assert hira == ["さとう\u3000ヴぁん"]  # ゔ is not CP932, so ヴ stays
    half = render_kana_names(["ガトウ"], ["ユウ"], rng(), **{**KANA_DEFAULTS, "p_halfwidth": 1})
    assert half == ["ｶﾞﾄｳ ﾕｳ"]
    missing = render_kana_names(
        ["サトウ"] * 5, ["ユウ"] * 5, rng(), **{**KANA_DEFAULTS, "p_missing": 1}
    )
    assert missing == [""] * 5


def test_kana_mix_rates() -> None:
    n = 20_000
    args = {"p_hiragana": 0.1, "p_halfwidth": 0.2, "p_missing": 0.05, "p_space_variants": 0.2}
    out = render_kana_names(["サトウ"] * n, ["ハナコ"] * n, rng(6), **args)
    assert sum(s == "" for s in out) / n == pytest.approx(0.05, abs=0.01)
    present = [s for s in out if s]
    m = len(present)
    assert sum(s.startswith("さとう") for s in present) / m == pytest.approx(0.1, abs=0.015)
    assert sum(s.startswith("ｻﾄｳ") for s in present) / m == pytest.approx(0.2, abs=0.015)
    usual = sum(
        (s.startswith("ｻﾄｳ") and s == "ｻﾄｳ ﾊﾅｺ") or (not s.startswith("ｻﾄｳ") and FW in s)
        for s in present
    )
    assert 1 - usual / m == pytest.approx(0.2, abs=0.015)
    assert render_kana_names(["サトウ"] * n, ["ハナコ"] * n, rng(6), **args) == out


def test_kana_validation() -> None:
    with pytest.raises(ValueError):
        render_kana_names(
            ["サ"], ["タ"], rng(), **{**KANA_DEFAULTS, "p_hiragana": 0.7, "p_halfwidth": 0.4}
        )
    with pytest.raises(ValueError):
        render_kana_names(["サ"], ["タ"], rng(), **{**KANA_DEFAULTS, "p_missing": 1.5})


# --- 外字 ----------------------------------------------------------------------------------------


def test_private_use_area_is_cp932() -> None:
    assert "\ue000".encode("cp932") == b"\xf0\x40"
    assert "\ue757".encode("cp932") == b"\xf9\xfc"
    assert b"\xf0\x40\x8d\x82".decode("cp932") == "\ue000高"
    with pytest.raises(UnicodeEncodeError):
        "\ue758".encode("cp932")


def test_gaiji_table_prefers_vendor_and_old_forms() -> None:
    table = make_gaiji_table(rng(), ["高橋", "山崎", "渡辺", "斎藤", "田中"], 6)
    assert table.codepoints == tuple(range(0xE000, 0xE006))
    # The NEC/IBM extension forms come first, then other old forms.
    assert {"髙", "\ufa11"} <= set(table.replacements)
    assert all(ch in {"髙", "\ufa11", "嵜", "邊", "邉", "齋", "齊"} for ch in table.replacements)
    small = make_gaiji_table(rng(), ["田中"], 50, first_codepoint=0xE100)
    assert set(small.replacements) == {"田", "中"}
    assert small.codepoints == (0xE100, 0xE101)
    with pytest.raises(ValueError, match="user-defined"):
        make_gaiji_table(rng(), ["高"], 10, first_codepoint=0xE750)
    with pytest.raises(ValueError):
        GaijiTable(codepoints=(0xF000,), replacements=("髙",), notes=("",))


def test_gaiji_table_csv(tmp_path: Path) -> None:
    table = make_gaiji_table(rng(), ["高橋", "渡辺"], 3, first_codepoint=0xE001)
    path = tmp_path / "gaiji.csv"
    table.to_csv(path)
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["codepoint", "replacement", "note"]
    assert [r[0] for r in rows[1:]] == ["U+E001", "U+E002", "U+E003"]
    assert all(re.fullmatch(r"U\+E[0-9A-F]{3}", r[0]) for r in rows[1:])
    assert [r[1] for r in rows[1:]] == list(table.replacements)
    table.to_csv(tmp_path / "gaiji_sjis.csv", encoding="cp932")
    assert (tmp_path / "gaiji_sjis.csv").read_text(encoding="cp932").startswith("codepoint,")


def test_apply_gaiji_round_trips() -> None:
    table = GaijiTable(codepoints=(0xE000, 0xE001), replacements=("髙", "邊"), notes=("", ""))
    names = ["髙橋\u3000太郎", "渡邊\u3000花子", "山田\u3000一郎"]
    out = apply_gaiji(names, table, rng(), 1.0)
    assert out == ["\ue000橋\u3000太郎", "渡\ue001\u3000花子", "山田\u3000一郎"]
    back = ["".join(table.from_private.get(ch, ch) for ch in s) for s in out]
    assert back == names
    assert apply_gaiji(names, table, rng(), 0.0) == names
    n = 10_000
    partial = apply_gaiji(["髙橋"] * n, table, rng(1), 0.25)
    assert sum(s != "髙橋" for s in partial) / n == pytest.approx(0.25, abs=0.02)


def test_everything_rendered_is_cp932() -> None:
    tables = load_name_tables()
    n = 20_000
    g = rng(11)
    sur, sur_kana = sample_surnames(tables, g, n)
    giv, giv_kana = sample_given_names(tables, g, g.choice(np.array(["M", "F"]), size=n))
    kanji = render_kanji_names(
        sur,
        giv,
        g,
        p_old_form=0.5,
        p_space_fullwidth=0.6,
        p_space_half=0.3,
        p_no_space=0.1,
        p_typo=0.1,
    )
    kana = render_kana_names(
        sur_kana, giv_kana, g, p_hiragana=0.2, p_halfwidth=0.3, p_missing=0.05, p_space_variants=0.2
    )
    table = make_gaiji_table(g, sur.tolist(), 40)
    gaiji = apply_gaiji(kanji, table, g, 0.8)
    assert any(any(is_private_use(ch) for ch in s) for s in gaiji)
    assert any(any(ch in "髙﨑邊邉齋" for ch in s) for s in kanji)
    for s in kanji + kana + gaiji:
        s.encode("cp932")
    dates = np.datetime64("1950-01-01") + g.integers(0, 30_000, n).astype("timedelta64[D]")
    for s in format_dates(dates, g, DATE_STYLES, [1.0] * len(DATE_STYLES)):
        s.encode("cp932")


# --- dates ---------------------------------------------------------------------------------------


def one(style: str, iso: str) -> str:
    return format_dates(np.array([iso], dtype="datetime64[D]"), rng(), [style], [1.0])[0]


@pytest.mark.parametrize(
    ("iso", "expected"),
    [
        ("1912-07-29", "明治45年7月29日"),
        ("1912-07-30", "大正元年7月30日"),
        ("1926-12-24", "大正15年12月24日"),
        ("1926-12-25", "昭和元年12月25日"),
        ("1989-01-07", "昭和64年1月7日"),
        ("1989-01-08", "平成元年1月8日"),
        ("2019-04-30", "平成31年4月30日"),
        ("2019-05-01", "令和元年5月1日"),
        ("2025-04-01", "令和7年4月1日"),
    ],
)
def test_wareki_kanji_boundaries(iso: str, expected: str) -> None:
    assert one("wareki_kanji", iso) == expected


@pytest.mark.parametrize(
    ("style", "iso", "expected"),
    [
        ("wareki_short", "2025-04-01", "R7.4.1"),
        ("wareki_short", "2019-04-30", "H31.4.30"),
        ("wareki_short", "1988-12-01", "S63.12.1"),
        ("wareki_short", "2019-05-01", "R1.5.1"),
        ("wareki_short_padded", "2025-04-01", "R07.04.01"),
        ("wareki_short_padded", "1989-01-08", "H01.01.08"),
        ("wareki_kanji_fullwidth", "2025-04-01", "令和７年４月１日"),
        ("wareki_kanji_fullwidth", "2019-05-01", "令和元年５月１日"),
        ("iso", "2025-04-01", "2025-04-01"),
        ("slash", "2025-04-01", "2025/4/1"),
        ("compact", "2025-04-01", "20250401"),
    ],
)
def test_date_styles(style: str, iso: str, expected: str) -> None:
    assert one(style, iso) == expected


def test_dates_nat_mix_and_validation() -> None:
    n = 30_000
    dates = np.full(n, np.datetime64("2025-04-01"), dtype="datetime64[D]")
    dates[::10] = np.datetime64("NaT")
    out = format_dates(dates, rng(2), ["iso", "compact"], [3.0, 1.0])
    assert all(out[i] == "" for i in range(0, n, 10))
    present = [s for s in out if s]
    assert set(present) == {"2025-04-01", "20250401"}
    assert present.count("2025-04-01") / len(present) == pytest.approx(0.75, abs=0.02)
    assert out == format_dates(dates, rng(2), ["iso", "compact"], [3.0, 1.0])
    ns = np.array(["2025-04-01T10:00"], dtype="datetime64[ns]")
    assert format_dates(ns, rng(), ["wareki_kanji"], [1.0]) == ["令和7年4月1日"]
    with pytest.raises(ValueError, match="unknown styles"):
        format_dates(dates, rng(), ["reiwa"], [1.0])
    with pytest.raises(ValueError, match="weights"):
        format_dates(dates, rng(), ["iso"], [1.0, 2.0])
    with pytest.raises(ValueError, match="明治"):
        format_dates(np.array(["1850-01-01"], dtype="datetime64[D]"), rng(), ["wareki_short"], [1])
    assert format_dates(np.array(["1850-01-01"], dtype="datetime64[D]"), rng(), ["iso"], [1]) == [
        "1850-01-01"
    ]


@pytest.mark.parametrize(
    ("style", "year", "month", "expected"),
    [
        ("wareki_kanji", 2025, 4, "令和7年4月"),
        ("wareki_kanji", 2019, 5, "令和元年5月"),
        ("wareki_kanji", 2019, 4, "平成31年4月"),
        ("wareki_kanji", 1989, 1, "昭和64年1月"),
        ("wareki_kanji", 1989, 2, "平成元年2月"),
        ("wareki_short", 2025, 4, "R7.4"),
        ("wareki_short_padded", 2025, 4, "R07.04"),
        ("iso", 2025, 4, "2025-04"),
        ("slash", 2025, 4, "2025/04"),
        ("compact", 2025, 4, "202504"),
    ],
)
def test_year_month_styles(style: str, year: int, month: int, expected: str) -> None:
    out = format_year_months(np.array([year]), np.array([month]), rng(), [style], [1.0])
    assert out == [expected]


def test_year_months_missing_and_validation() -> None:
    years = np.array([2025.0, np.nan, 2024.0])
    months = np.array([4.0, 5.0, np.nan])
    assert format_year_months(years, months, rng(), ["compact"], [1.0]) == ["202504", "", ""]
    with pytest.raises(ValueError, match="between 1 and 12"):
        format_year_months(np.array([2025]), np.array([13]), rng(), ["iso"], [1.0])
    assert set(YEAR_MONTH_STYLES) == set(DATE_STYLES)
