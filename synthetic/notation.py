"""How one department's extract writes a name or a date (表記揺れ).

The same child appears as 髙橋 太郎 in one system, 高橋　太郎 in another and ﾀｶﾊｼ ﾀﾛｳ in a third;
dates come as 令和7年4月1日, R7.4.1 or 20250401. These functions render such variants from the
canonical values the generator holds. Every output is encodable in CP932, the encoding the extracts
are written in, including the private-use code points used for 外字.

All functions take per-row arrays plus a ``numpy.random.Generator`` and draw a fixed number of
random values per row whatever the data, so a seed reproduces the same extract.
"""

from __future__ import annotations

import csv
import itertools
import math
import os
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from typing import Final

import jaconv
import numpy as np
import numpy.typing as npt

__all__ = [
    "DATE_STYLES",
    "OLD_FORM_KANJI",
    "TYPO_KANJI",
    "YEAR_MONTH_STYLES",
    "GaijiTable",
    "apply_gaiji",
    "format_dates",
    "format_year_months",
    "make_gaiji_table",
    "render_kana_names",
    "render_kanji_names",
]

StrArray = Sequence[str] | npt.NDArray[np.object_] | npt.NDArray[np.str_]

FULLWIDTH_SPACE: Final = "\u3000"
HALFWIDTH_SPACE: Final = " "

# New form -> the old or variant forms a family may be registered with. A value holding several
# characters lists alternatives (渡辺 may be 渡邊 or 渡邉). All are CP932: 髙, 﨑, 德, 增, 瀨 sit in
# the NEC/IBM extension rows. The U+FAxx entries are CJK compatibility ideographs that NFC folds
# back to the new form, so they are written as escapes to survive editors that normalise text.
OLD_FORM_KANJI: Final[dict[str, str]] = {
    "高": "髙",
    "崎": "\ufa11嵜",  # 﨑 (U+FA11, a unified ideograph despite its block; NFC keeps it)
    "辺": "邊邉",
    "斎": "齋齊",
    "斉": "齊",
    "浜": "濱",
    "沢": "澤",
    "桜": "櫻",
    "広": "廣",
    "国": "國",
    "島": "嶋嶌",
    "富": "冨",
    "徳": "德",
    "恵": "惠",
    "真": "眞",
    "竜": "龍",
    "槙": "槇",
    "桧": "檜",
    "曽": "曾",
    "関": "關",
    "滝": "瀧",
    "栄": "榮",
    "条": "條",
    "寿": "壽",
    "亀": "龜",
    "実": "實",
    "峰": "峯",
    "万": "萬",
    "与": "與",
    "芦": "蘆",
    "蔵": "藏",
    "会": "會",
    "増": "增",
    "黒": "黑",
    "瀬": "瀨",
    "渕": "淵",
    "清": "淸",
    "渋": "澁",
    "青": "靑",
    "礼": "禮",
    "来": "來",
    "塚": "\ufa10",
    "神": "\ufa19",
    "福": "\ufa1b",
    "都": "\ufa26",
    "猪": "\ufa16",
}

# Visually similar kanji a clerk keying a paper form confuses (太/大, 未/末, 郎/朗). Deliberately
# free of old/variant forms: 沢 -> 澤 is a legitimate spelling, not an error.
TYPO_KANJI: Final[dict[str, str]] = {
    "太": "大犬",
    "大": "太",
    "祐": "佑",
    "佑": "祐侑",
    "侑": "佑",
    "未": "末",
    "末": "未",
    "幸": "辛",
    "徹": "撤",
    "明": "朋",
    "朋": "明",
    "史": "吏",
    "士": "土",
    "千": "干",
    "己": "已巳",
    "由": "田",
    "陽": "揚",
    "晴": "睛",
    "綾": "稜",
    "菜": "莱",
    "崇": "祟",
    "健": "建",
    "隆": "降",
    "真": "直",
    "直": "真",
    "郎": "朗",
    "朗": "郎",
    "人": "入",
    "和": "知",
    "智": "知",
    "結": "詰",
    "奏": "秦",
    "彩": "採",
    "理": "埋",
    "瞳": "憧",
    "拓": "柘",
    "幹": "乾",
    "遼": "瞭",
    "貴": "責",
    "浩": "活",
    "博": "傅",
    "子": "了",
    "宏": "宋",
    "弘": "引",
    "治": "冶",
    "雅": "稚",
    "紀": "記",
}

# CP932 maps U+E000..U+E757 to its user-defined rows F040..F9FC; beyond that a 外字 could not be
# written to the extract at all.
GAIJI_FIRST_CODEPOINT: Final = 0xE000
GAIJI_LAST_CODEPOINT: Final = 0xE757


# --- shared helpers ------------------------------------------------------------------------------


def _check_probability(name: str, p: float) -> None:
    if not (0.0 <= p <= 1.0) or math.isnan(p):
        raise ValueError(f"{name} must be in [0, 1], got {p}")


def _text(value: object) -> str:
    if isinstance(value, str):
        return value
    # None and NaN are what pandas hands over for a missing name; render them as empty.
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


def _as_str_list(values: StrArray, name: str) -> list[str]:
    if np.ndim(values) != 1:
        raise ValueError(f"{name} must be one-dimensional")
    return [_text(v) for v in np.asarray(values, dtype=object).tolist()]


def _separator_choice(
    rng: np.random.Generator, n: int, p_fullwidth: float, p_half: float, p_none: float
) -> npt.NDArray[np.object_]:
    probs = np.array([p_fullwidth, p_half, p_none], dtype=np.float64)
    if (probs < 0).any() or not np.isfinite(probs).all() or abs(probs.sum() - 1.0) > 1e-9:
        raise ValueError(f"separator probabilities must be non-negative and sum to 1, got {probs}")
    options = np.array([FULLWIDTH_SPACE, HALFWIDTH_SPACE, ""], dtype=object)
    chosen: npt.NDArray[np.object_] = options[rng.choice(3, size=n, p=probs)]
    return chosen


# --- kanji names ---------------------------------------------------------------------------------


@lru_cache(maxsize=65536)
def _old_form_variants(surname: str) -> tuple[str, ...]:
    """Every spelling with at least one character in an old form (高島 -> 髙島, 高嶋, 髙嶋, ...)."""
    options = [(ch, *OLD_FORM_KANJI.get(ch, "")) for ch in surname]
    if all(len(o) == 1 for o in options):
        return ()
    return tuple("".join(c) for c in itertools.product(*options) if "".join(c) != surname)


@lru_cache(maxsize=65536)
def _typo_candidates(given: str) -> tuple[tuple[int, str], ...]:
    return tuple((i, alt) for i, ch in enumerate(given) for alt in TYPO_KANJI.get(ch, ""))


def render_kanji_names(
    surnames: StrArray,
    given: StrArray,
    rng: np.random.Generator,
    *,
    p_old_form: float,
    p_space_fullwidth: float,
    p_space_half: float,
    p_no_space: float,
    p_typo: float,
) -> list[str]:
    """Full kanji names as one department writes them.

    The three separator probabilities must sum to 1. ``p_old_form`` is the chance that a surname
    with an eligible character is written in an old form, ``p_typo`` the chance that a given name
    with a character from ``TYPO_KANJI`` gets one such character swapped.
    """
    _check_probability("p_old_form", p_old_form)
    _check_probability("p_typo", p_typo)
    sur = _as_str_list(surnames, "surnames")
    giv = _as_str_list(given, "given")
    if len(sur) != len(giv):
        raise ValueError(f"surnames and given differ in length: {len(sur)} != {len(giv)}")
    n = len(sur)
    seps = _separator_choice(rng, n, p_space_fullwidth, p_space_half, p_no_space)
    old_u = rng.random(n)
    typo_u = rng.random(n)
    typo_pick = rng.random(n)

    rendered_sur = list(sur)
    for i in np.flatnonzero(old_u < p_old_form).tolist():
        variants = _old_form_variants(sur[i])
        if variants:
            # A person's registered spelling is fixed (渡邊 or 渡邉, not either at random), so the
            # variant is a stable function of the canonical full name: every department that keeps
            # old forms shows the same one for that person.
            key = zlib.crc32(f"{sur[i]}\t{giv[i]}".encode())
            rendered_sur[i] = variants[key % len(variants)]

    rendered_giv = list(giv)
    for i in np.flatnonzero(typo_u < p_typo).tolist():
        candidates = _typo_candidates(giv[i])
        if candidates:
            pos, alt = candidates[int(typo_pick[i] * len(candidates))]
            rendered_giv[i] = giv[i][:pos] + alt + giv[i][pos + 1 :]

    return [
        s + sep + g for s, sep, g in zip(rendered_sur, seps.tolist(), rendered_giv, strict=True)
    ]


# --- kana names ----------------------------------------------------------------------------------

# kata2hira yields ゔ, ゕ and ゖ, which CP932 lacks; systems keep the katakana letter there.
_HIRAGANA_CP932_FIX: Final = str.maketrans({"ゔ": "ヴ", "ゕ": "ヵ", "ゖ": "ヶ"})


@lru_cache(maxsize=65536)
def _katakana(kana: str) -> str:
    return str(jaconv.hira2kata(kana))


@lru_cache(maxsize=65536)
def _hiragana(kana: str) -> str:
    return str(jaconv.kata2hira(kana)).translate(_HIRAGANA_CP932_FIX)


@lru_cache(maxsize=65536)
def _halfwidth(kana: str) -> str:
    return str(jaconv.z2h(kana, kana=True, ascii=False, digit=False))


def render_kana_names(
    surname_kana: StrArray,
    given_kana: StrArray,
    rng: np.random.Generator,
    *,
    p_hiragana: float,
    p_halfwidth: float,
    p_missing: float,
    p_space_variants: float,
) -> list[str]:
    """Full kana names (フリガナ) as one department writes them.

    Full-width katakana by default; hiragana with ``p_hiragana``; half-width katakana with
    ``p_halfwidth`` (old single-byte fields); an empty string with ``p_missing``. The separator is
    a full-width space, or a half-width one for half-width kana (such systems are single-byte
    throughout); with ``p_space_variants`` it is one of the two other choices (including none).
    """
    for name, p in (
        ("p_hiragana", p_hiragana),
        ("p_halfwidth", p_halfwidth),
        ("p_missing", p_missing),
        ("p_space_variants", p_space_variants),
    ):
        _check_probability(name, p)
    if p_hiragana + p_halfwidth > 1.0 + 1e-9:
        raise ValueError("p_hiragana + p_halfwidth must not exceed 1")
    sur = _as_str_list(surname_kana, "surname_kana")
    giv = _as_str_list(given_kana, "given_kana")
    if len(sur) != len(giv):
        raise ValueError(f"kana arrays differ in length: {len(sur)} != {len(giv)}")
    n = len(sur)
    missing = (rng.random(n) < p_missing).tolist()
    script_u = rng.random(n)
    script = np.where(
        script_u < p_hiragana, 1, np.where(script_u < p_hiragana + p_halfwidth, 2, 0)
    ).tolist()
    vary = (rng.random(n) < p_space_variants).tolist()
    other = (rng.random(n) < 0.5).tolist()

    converters: tuple[Callable[[str], str], ...] = (_katakana, _hiragana, _halfwidth)
    # Per script: the usual separator, then the two variants.
    separators = (
        (FULLWIDTH_SPACE, HALFWIDTH_SPACE, ""),
        (FULLWIDTH_SPACE, HALFWIDTH_SPACE, ""),
        (HALFWIDTH_SPACE, FULLWIDTH_SPACE, ""),
    )
    out: list[str] = []
    for s, g, miss, sc, v, o in zip(sur, giv, missing, script, vary, other, strict=True):
        if miss:
            out.append("")
            continue
        convert = converters[sc]
        sep = separators[sc][1 + o] if v else separators[sc][0]
        out.append(convert(_katakana(s)) + sep + convert(_katakana(g)))
    return out


# --- 外字 ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GaijiTable:
    """A municipality's 外字 registry: private-use code points and the characters they stand for."""

    codepoints: tuple[int, ...]
    replacements: tuple[str, ...]
    notes: tuple[str, ...]

    def __post_init__(self) -> None:
        if not (len(self.codepoints) == len(self.replacements) == len(self.notes)):
            raise ValueError("codepoints, replacements and notes must have the same length")
        if len(set(self.codepoints)) != len(self.codepoints):
            raise ValueError("codepoints must be unique")
        if len(set(self.replacements)) != len(self.replacements):
            raise ValueError("replacements must be unique")
        for cp in self.codepoints:
            if not GAIJI_FIRST_CODEPOINT <= cp <= GAIJI_LAST_CODEPOINT:
                raise ValueError(f"U+{cp:04X} is outside the CP932 user-defined area")
        for r in self.replacements:
            if len(r) != 1:
                raise ValueError(f"each replacement must be one character, got {r!r}")

    @property
    def to_private(self) -> dict[str, str]:
        """Real character -> private-use character, as the municipality's system stores it."""
        return {r: chr(cp) for cp, r in zip(self.codepoints, self.replacements, strict=True)}

    @property
    def from_private(self) -> dict[str, str]:
        """Private-use character -> real character, what a reader of the extract needs."""
        return {chr(cp): r for cp, r in zip(self.codepoints, self.replacements, strict=True)}

    def to_csv(self, path: str | os.PathLike[str], *, encoding: str = "utf-8") -> None:
        """Write ``codepoint,replacement,note`` with code points as ``U+E000``."""
        with open(path, "w", encoding=encoding, newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["codepoint", "replacement", "note"])
            for cp, r, note in zip(self.codepoints, self.replacements, self.notes, strict=True):
                writer.writerow([f"U+{cp:04X}", r, note])


def _is_cjk_ideograph(ch: str) -> bool:
    cp = ord(ch)
    return (
        0x3400 <= cp <= 0x4DBF
        or 0x4E00 <= cp <= 0x9FFF
        or 0xF900 <= cp <= 0xFAFF
        or 0x20000 <= cp <= 0x3FFFF
    )


_OLD_TO_NEW: Final[dict[str, str]] = {
    old: new for new, olds in OLD_FORM_KANJI.items() for old in olds
}


def _gaiji_tier(ch: str) -> int:
    """Lower is likelier to be a 外字 in a municipal system."""
    try:
        encoded = ch.encode("cp932")
    except UnicodeEncodeError:
        return 0  # cannot be written at all without a 外字
    if encoded[0] in (0xED, 0xEE, 0xFA, 0xFB, 0xFC):
        return 1  # NEC/IBM extension: missing from JIS X 0208 systems (髙, 﨑)
    if ch in _OLD_TO_NEW:
        return 2  # old forms were registered as 外字 before vendors added them
    if len(encoded) == 2 and (encoded[0] << 8 | encoded[1]) >= 0x989F:
        return 3  # JIS level 2
    return 4


def make_gaiji_table(
    rng: np.random.Generator,
    surname_chars: Sequence[str],
    n_codepoints: int,
    first_codepoint: int = GAIJI_FIRST_CODEPOINT,
) -> GaijiTable:
    """Pick up to ``n_codepoints`` characters a municipality's system keeps as 外字.

    ``surname_chars`` may hold characters or whole surnames. Old forms of the characters given
    are candidates too, so passing modern surnames still yields 髙, 﨑, 邊, 齋. Candidates are
    taken in order of how likely a system lacks them (outside CP932, vendor extensions, old forms,
    JIS level 2, the rest), shuffled within each group; fewer are returned if fewer exist.
    """
    if n_codepoints < 0:
        raise ValueError(f"n_codepoints must be non-negative, got {n_codepoints}")
    if not GAIJI_FIRST_CODEPOINT <= first_codepoint <= GAIJI_LAST_CODEPOINT + 1 - n_codepoints:
        raise ValueError(
            f"U+{first_codepoint:04X} + {n_codepoints} code points leaves the CP932 user-defined "
            f"area U+{GAIJI_FIRST_CODEPOINT:04X}..U+{GAIJI_LAST_CODEPOINT:04X}"
        )
    chars: set[str] = set()
    for text in surname_chars:
        for ch in text:
            if _is_cjk_ideograph(ch):
                chars.add(ch)
                chars.update(OLD_FORM_KANJI.get(ch, ""))

    by_tier: dict[int, list[str]] = {}
    for ch in sorted(chars):  # sorted so that the shuffle alone decides, not set order
        by_tier.setdefault(_gaiji_tier(ch), []).append(ch)
    picked: list[str] = []
    for tier in sorted(by_tier):
        group = by_tier[tier]
        picked.extend(group[i] for i in rng.permutation(len(group)).tolist())
    picked = picked[:n_codepoints]

    notes = tuple(
        f"「{_OLD_TO_NEW[ch]}」の異体字" if ch in _OLD_TO_NEW else "外字登録" for ch in picked
    )
    return GaijiTable(
        codepoints=tuple(range(first_codepoint, first_codepoint + len(picked))),
        replacements=tuple(picked),
        notes=notes,
    )


def apply_gaiji(
    names: StrArray, table: GaijiTable, rng: np.random.Generator, p: float
) -> list[str]:
    """With probability ``p`` per name, write the table's characters as their private-use codes."""
    _check_probability("p", p)
    values = _as_str_list(names, "names")
    hit = (rng.random(len(values)) < p).tolist()
    translation = str.maketrans(table.to_private)
    return [v.translate(translation) if h else v for v, h in zip(values, hit, strict=True)]


# --- dates ---------------------------------------------------------------------------------------

# (kanji name, initial, first day). 明治 counts from 1868-01-25, the Gregorian date of its first
# New Year's day (明治元年1月1日 in the old calendar).
_ERAS: Final = (
    ("明治", "M", date(1868, 1, 25)),
    ("大正", "T", date(1912, 7, 30)),
    ("昭和", "S", date(1926, 12, 25)),
    ("平成", "H", date(1989, 1, 8)),
    ("令和", "R", date(2019, 5, 1)),
)
_FULLWIDTH_DIGITS: Final = str.maketrans("0123456789", "０１２３４５６７８９")
_EPOCH: Final = date(1970, 1, 1)


def _era(day: date) -> tuple[str, str, int]:
    for name, initial, start in reversed(_ERAS):
        if day >= start:
            return name, initial, day.year - start.year + 1
    raise ValueError(f"{day.isoformat()} is before 明治 and has no supported Japanese era")


def _era_year_kanji(era_year: int) -> str:
    return "元" if era_year == 1 else str(era_year)


def _wareki_kanji_date(d: date) -> str:
    name, _, y = _era(d)
    return f"{name}{_era_year_kanji(y)}年{d.month}月{d.day}日"


def _wareki_short_date(d: date) -> str:
    _, initial, y = _era(d)
    return f"{initial}{y}.{d.month}.{d.day}"


def _wareki_short_padded_date(d: date) -> str:
    _, initial, y = _era(d)
    return f"{initial}{y:02d}.{d.month:02d}.{d.day:02d}"


_DATE_FORMATTERS: Final[dict[str, Callable[[date], str]]] = {
    "wareki_kanji": _wareki_kanji_date,
    # Hand-keyed systems often store 全角 digits: 令和７年４月１日.
    "wareki_kanji_fullwidth": lambda d: _wareki_kanji_date(d).translate(_FULLWIDTH_DIGITS),
    "wareki_short": _wareki_short_date,
    "wareki_short_padded": _wareki_short_padded_date,
    "iso": lambda d: f"{d.year:04d}-{d.month:02d}-{d.day:02d}",
    "slash": lambda d: f"{d.year}/{d.month}/{d.day}",
    "compact": lambda d: f"{d.year:04d}{d.month:02d}{d.day:02d}",
}


def _wareki_kanji_month(d: date) -> str:
    name, _, y = _era(d)
    return f"{name}{_era_year_kanji(y)}年{d.month}月"


def _wareki_short_month(d: date) -> str:
    _, initial, y = _era(d)
    return f"{initial}{y}.{d.month}"


def _wareki_short_padded_month(d: date) -> str:
    _, initial, y = _era(d)
    return f"{initial}{y:02d}.{d.month:02d}"


# A month is named by the era in force on its first day (1989-01 is 昭和64年1月).
_YEAR_MONTH_FORMATTERS: Final[dict[str, Callable[[date], str]]] = {
    "wareki_kanji": _wareki_kanji_month,
    "wareki_kanji_fullwidth": lambda d: _wareki_kanji_month(d).translate(_FULLWIDTH_DIGITS),
    "wareki_short": _wareki_short_month,
    "wareki_short_padded": _wareki_short_padded_month,
    "iso": lambda d: f"{d.year:04d}-{d.month:02d}",
    "slash": lambda d: f"{d.year:04d}/{d.month:02d}",
    "compact": lambda d: f"{d.year:04d}{d.month:02d}",
}

DATE_STYLES: Final = tuple(_DATE_FORMATTERS)
YEAR_MONTH_STYLES: Final = tuple(_YEAR_MONTH_FORMATTERS)


def _draw_styles(
    rng: np.random.Generator,
    n: int,
    styles: Sequence[str],
    weights: Sequence[float],
    known: dict[str, Callable[[date], str]],
) -> npt.NDArray[np.intp]:
    if len(styles) == 0:
        raise ValueError("styles must not be empty")
    if len(styles) != len(weights):
        raise ValueError(f"{len(styles)} styles but {len(weights)} weights")
    unknown = [s for s in styles if s not in known]
    if unknown:
        raise ValueError(f"unknown styles {unknown}; known: {sorted(known)}")
    w = np.asarray(weights, dtype=np.float64)
    if (w < 0).any() or not np.isfinite(w).all() or w.sum() <= 0:
        raise ValueError(f"weights must be non-negative with a positive sum, got {list(weights)}")
    return rng.choice(len(styles), size=n, p=w / w.sum())


def _render_by_style(
    *,
    keys: npt.NDArray[np.int64],
    valid: npt.NDArray[np.bool_],
    choice: npt.NDArray[np.intp],
    styles: Sequence[str],
    formatters: dict[str, Callable[[date], str]],
    to_date: Callable[[int], date],
) -> list[str]:
    # Extracts repeat the same few thousand dates, so each distinct (style, date) is formatted once.
    out = np.full(len(keys), "", dtype=object)
    for k, style in enumerate(styles):
        rows = np.flatnonzero((choice == k) & valid)
        if rows.size == 0:
            continue
        uniq, inverse = np.unique(keys[rows], return_inverse=True)
        fmt = formatters[style]
        rendered = np.array([fmt(to_date(u)) for u in uniq.tolist()], dtype=object)
        out[rows] = rendered[inverse]
    result: list[str] = out.tolist()
    return result


def format_dates(
    dates: npt.ArrayLike,
    rng: np.random.Generator,
    styles: Sequence[str],
    weights: Sequence[float],
) -> list[str]:
    """Render each date in a style drawn from ``styles`` with ``weights``; NaT becomes "".

    Styles: wareki_kanji (令和7年4月1日, 元年 for year 1), wareki_kanji_fullwidth
    (令和７年４月１日), wareki_short (R7.4.1), wareki_short_padded (R07.04.01),
    iso (2025-04-01), slash (2025/4/1), compact (20250401). Wareki styles raise ValueError
    for dates before 明治.
    """
    days = np.asarray(dates).astype("datetime64[D]")
    if days.ndim != 1:
        raise ValueError("dates must be one-dimensional")
    choice = _draw_styles(rng, len(days), styles, weights, _DATE_FORMATTERS)
    valid = ~np.isnat(days)
    keys = days.view(np.int64)
    return _render_by_style(
        keys=keys,
        valid=valid,
        choice=choice,
        styles=styles,
        formatters=_DATE_FORMATTERS,
        to_date=lambda u: _EPOCH + timedelta(days=u),
    )


def format_year_months(
    years: npt.ArrayLike,
    months: npt.ArrayLike,
    rng: np.random.Generator,
    styles: Sequence[str],
    weights: Sequence[float],
) -> list[str]:
    """Render 年月 values in a style drawn per row; a NaN year or month becomes "".

    Styles: wareki_kanji (令和7年4月), wareki_kanji_fullwidth, wareki_short (R7.4),
    wareki_short_padded (R07.04), iso (2025-04), slash (2025/04), compact (202504).
    """
    y = np.asarray(years, dtype=np.float64)
    m = np.asarray(months, dtype=np.float64)
    if y.ndim != 1 or y.shape != m.shape:
        raise ValueError("years and months must be one-dimensional and of equal length")
    valid = ~(np.isnan(y) | np.isnan(m))
    if (y[valid] != np.round(y[valid])).any() or (m[valid] != np.round(m[valid])).any():
        raise ValueError("years and months must be whole numbers")
    if ((m[valid] < 1) | (m[valid] > 12)).any():
        raise ValueError("months must be between 1 and 12")
    choice = _draw_styles(rng, len(y), styles, weights, _YEAR_MONTH_FORMATTERS)
    keys = np.where(valid, np.nan_to_num(y) * 12 + np.nan_to_num(m) - 1, 0).astype(np.int64)
    return _render_by_style(
        keys=keys,
        valid=valid,
        choice=choice,
        styles=styles,
        formatters=_YEAR_MONTH_FORMATTERS,
        to_date=lambda k: date(k // 12, k % 12 + 1, 1),
    )
