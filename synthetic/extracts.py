"""Render the hidden world as the CSV extracts each municipal department would hand over.

Each department has its own IDs (宛名番号 for registry, tax and welfare; 児童生徒番号 for the board
of education; 母子記録番号 for maternal health), its own date notation and its own way of writing
names. Every row carries the date its event happened and the date it became known to the
municipality, so a point-in-time feature store can be honest about what was known when.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import expit

from synthetic.calendar import SCHOOL_DAYS, calendar_month, fiscal_year, month_start
from synthetic.notation import (
    GaijiTable,
    apply_gaiji,
    format_dates,
    format_year_months,
    make_gaiji_table,
    render_kana_names,
    render_kanji_names,
)
from synthetic.profiles import Municipality
from synthetic.world import Progress, World

TOWNS = (
    "本町",
    "中央",
    "栄町",
    "旭町",
    "緑町",
    "若葉",
    "桜台",
    "富士見",
    "東町",
    "西町",
    "南町",
    "北町",
    "新町",
    "宮前",
    "大原",
    "川端",
    "松原",
    "青葉台",
    "日の出",
    "港町",
)
BUILDINGS = ("コーポ", "ハイツ", "レジデンス", "メゾン", "グリーンヒル", "サンライズ", "パレス")
KANJI_DIGITS = "〇一二三四五六七八九"


@dataclass(frozen=True)
class DepartmentStyle:
    """How one department writes names and dates."""

    date_styles: tuple[str, ...]
    date_weights: tuple[float, ...]
    p_old_form: float
    p_typo: float
    p_hiragana: float
    p_halfwidth: float
    p_missing_kana: float
    p_gaiji: float
    address_style: str


# The registry keeps the official (often old) character forms and registered 外字; other systems
# were typed by hand from forms and drift towards common characters, typos and other notations.
STYLES = {
    "registry": DepartmentStyle(("wareki_kanji",), (1.0,), 0.7, 0.0, 0.0, 0.0, 0.0, 0.6, "kanji"),
    "welfare": DepartmentStyle(
        ("wareki_kanji", "wareki_short"), (0.6, 0.4), 0.4, 0.003, 0.0, 0.2, 0.02, 0.0, "hyphen"
    ),
    "school": DepartmentStyle(
        ("slash", "iso", "wareki_short"),
        (0.5, 0.3, 0.2),
        0.15,
        0.01,
        0.25,
        0.05,
        0.03,
        0.0,
        "hyphen",
    ),
    "maternal": DepartmentStyle(
        ("wareki_short_padded", "wareki_kanji", "compact"),
        (0.5, 0.3, 0.2),
        0.1,
        0.01,
        0.4,
        0.1,
        0.05,
        0.0,
        "mixed",
    ),
}


class ExtractWriter:
    """Collects each file's rows and writes them in the municipality's encoding."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.row_counts: dict[str, int] = {}

    def write(
        self, municipality: Municipality, department: str, name: str, frame: pd.DataFrame
    ) -> str:
        relative = f"{municipality.code}/{department}/{name}"
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(
            path,
            index=False,
            encoding=municipality.encoding,
            quoting=csv.QUOTE_MINIMAL,
            lineterminator="\r\n" if municipality.encoding == "cp932" else "\n",
        )
        self.row_counts[relative] = len(frame)
        return relative


def _dates(days: np.ndarray, rng: np.random.Generator, style: DepartmentStyle) -> list[str]:
    return format_dates(
        np.asarray(days, dtype="datetime64[D]"), rng, style.date_styles, style.date_weights
    )


def _random_day(start: tuple[int, int], months: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return month_start(start, months) + rng.integers(0, 28, len(months)).astype("timedelta64[D]")


def _kanji_number(value: int) -> str:
    if value < 10:
        return KANJI_DIGITS[value]
    tens, ones = divmod(value, 10)
    text = ("" if tens == 1 else KANJI_DIGITS[tens]) + "十"
    return text + (KANJI_DIGITS[ones] if ones else "")


def _addresses(
    seeds: np.ndarray, municipality: Municipality, style: str, rng: np.random.Generator
) -> tuple[list[str], list[str]]:
    """Address and building (方書) from an address seed, written in a department's style."""
    out, buildings = [], []
    style_draw = rng.random(len(seeds))
    for seed, draw in zip(seeds, style_draw, strict=True):
        value = int(seed)
        town = TOWNS[value % len(TOWNS)]
        chome = 1 + (value >> 5) % 5
        ban = 1 + (value >> 8) % 30
        go = 1 + (value >> 13) % 20
        has_building = (value >> 18) % 10 < 3
        building = (
            f"{BUILDINGS[(value >> 21) % len(BUILDINGS)]}{town[0]}{(value >> 24) % 5 + 1}0"
            f"{(value >> 27) % 8 + 1}"
            if has_building
            else ""
        )
        kind = style if style != "mixed" else ("kanji" if draw < 0.5 else "hyphen")
        if kind == "kanji":
            body = f"{town}{_kanji_number(chome)}丁目{ban}番{go}号"
        elif draw < 0.8:
            body = f"{town}{chome}-{ban}-{go}"
        else:
            body = f"{town}{chome}丁目{ban}-{go}".translate(_FULL)
        prefix = f"{municipality.prefecture}{municipality.name}"
        if kind != "kanji" and draw < 0.3:
            prefix = municipality.name
        out.append(prefix + body + (" " + building if building and kind != "kanji" else ""))
        buildings.append(building if kind == "kanji" else "")
    return out, buildings


_FULL = str.maketrans("0123456789-", "０１２３４５６７８９－")


def _names(
    people: pd.DataFrame,
    rng: np.random.Generator,
    style: DepartmentStyle,
    gaiji: GaijiTable | None,
) -> tuple[list[str], list[str]]:
    kanji = render_kanji_names(
        people["surname"].to_numpy(),
        people["given_name"].to_numpy(),
        rng,
        p_old_form=style.p_old_form,
        p_space_fullwidth=0.7,
        p_space_half=0.2,
        p_no_space=0.1,
        p_typo=style.p_typo,
    )
    if gaiji is not None and style.p_gaiji > 0:
        kanji = apply_gaiji(kanji, gaiji, rng, style.p_gaiji)
    kana = render_kana_names(
        people["surname_kana"].to_numpy(),
        people["given_name_kana"].to_numpy(),
        rng,
        p_hiragana=style.p_hiragana,
        p_halfwidth=style.p_halfwidth,
        p_missing=style.p_missing_kana,
        p_space_variants=0.1,
    )
    return kanji, kana


class IdBook:
    """Department IDs per (person, municipality), kept for the ground truth."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.ids: dict[tuple[str, str, str, str], str] = {}
        self.used: set[str] = set()

    def get(self, kind: str, municipality: str, person: str, digits: int, prefix: str = "") -> str:
        key = (kind, municipality, person, prefix)
        if key not in self.ids:
            while True:
                value = prefix + str(int(self.rng.integers(10 ** (digits - 1), 10**digits)))
                if (kind, municipality, value) not in self.used:
                    break
            self.used.add((kind, municipality, value))  # type: ignore[arg-type]
            self.ids[key] = value
        return self.ids[key]

    def frame(self) -> pd.DataFrame:
        rows = [
            (kind, municipality, value, person)
            for (kind, municipality, person, _), value in self.ids.items()
        ]
        return pd.DataFrame(rows, columns=["id_kind", "municipality", "id_value", "person_id"])


def person_months(world: World) -> pd.DataFrame:
    """Each person's residence spells: (person, municipality, start month, end month, address)."""
    people = world.people
    spells = world.residences
    merged = spells.merge(people, on="household_id")
    birth_month = np.where(
        merged["role"] == "child",
        merged["joined_month"],
        -1,
    )
    start = np.maximum.reduce(
        [merged["start_month"].to_numpy(), merged["joined_month"].to_numpy(), birth_month]
    )
    end = np.minimum(merged["end_month"].to_numpy(), merged["left_month"].to_numpy())
    merged["person_start"] = np.maximum(start, 0)
    merged["person_end"] = end
    merged["starts_before_window"] = start < 0
    kept = merged[merged["person_start"] < merged["person_end"]]
    return kept.reset_index(drop=True)


def render_extracts(
    world: World, root: Path, rng: np.random.Generator, progress: Progress
) -> tuple[ExtractWriter, pd.DataFrame, pd.DataFrame]:
    """Write every municipality's extracts; return the writer, the ID book and injected defects."""
    writer = ExtractWriter(root)
    ids = IdBook(rng)
    defects: list[tuple[str, int, str]] = []
    spells = person_months(world)
    profile = world.profile
    progress.start("departmental extracts", len(profile.municipalities))
    for index, municipality in enumerate(profile.municipalities):
        gaiji = make_gaiji_table(rng, list(world.people["surname"].unique()[:400]), n_codepoints=12)
        gaiji.to_csv(_ensure(root / municipality.code / "gaiji_map.csv"))
        writer.row_counts[f"{municipality.code}/gaiji_map.csv"] = len(gaiji.codepoints)
        context = _MunicipalityContext(world, municipality, index, spells, ids, rng, gaiji)
        for render in _RENDERERS:
            for name, department, frame in render(context):
                damaged = _inject_defects(frame, rng, name, defects, municipality)
                writer.write(municipality, department, name, damaged)
        progress.advance()
    defect_frame = pd.DataFrame(defects, columns=["file", "line", "defect"])
    return writer, ids.frame(), defect_frame


def _ensure(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


@dataclass
class _MunicipalityContext:
    world: World
    municipality: Municipality
    index: int
    spells: pd.DataFrame
    ids: IdBook
    rng: np.random.Generator
    gaiji: GaijiTable

    @property
    def code(self) -> str:
        return self.municipality.code

    def atena(self, person_ids: pd.Series) -> list[str]:
        return [self.ids.get("atena", self.code, p, 10) for p in person_ids]


RenderResult = list[tuple[str, str, pd.DataFrame]]


def _name_at(world: World, person_ids: np.ndarray, months: np.ndarray) -> pd.DataFrame:
    """Each person's true name as of a month (surname changes applied)."""
    people = world.people.set_index("person_id")
    base = people.loc[person_ids, ["surname", "surname_kana", "given_name", "given_name_kana"]]
    base = base.reset_index()
    base["month"] = np.asarray(months, dtype=np.int64)
    changes = world.name_changes
    if len(changes) == 0:
        return base
    base["_order"] = np.arange(len(base))
    left = base.sort_values("month")
    right = changes.rename(columns={"surname": "_s", "surname_kana": "_k"}).sort_values("month")
    right = right.assign(month=right["month"].astype(np.int64))
    merged = pd.merge_asof(
        left, right[["person_id", "month", "_s", "_k"]], on="month", by="person_id"
    )
    changed = merged["_s"].notna()
    merged.loc[changed, "surname"] = merged.loc[changed, "_s"]
    merged.loc[changed, "surname_kana"] = merged.loc[changed, "_k"]
    merged = merged.sort_values("_order").drop(columns=["_s", "_k", "_order"])
    return merged.reset_index(drop=True)


def _registry(ctx: _MunicipalityContext) -> RenderResult:
    world, rng, style = ctx.world, ctx.rng, STYLES["registry"]
    start = world.profile.start
    spells = ctx.spells[ctx.spells["municipality"] == ctx.index].copy()
    people = world.people.set_index("person_id")
    names = _name_at(world, spells["person_id"].to_numpy(), spells["person_start"].to_numpy())
    kanji, kana = _names(names, rng, style, ctx.gaiji)
    address, building = _addresses(
        spells["address_seed"].astype(np.int64).to_numpy(), ctx.municipality, "kanji", rng
    )
    role = spells["role"].to_numpy()
    relation = np.select(
        [role == "child", role == "mother", role == "father", role == "partner"],
        ["子", "妻", "世帯主", "夫"],
        "母",
    )
    single = ~spells["household_id"].map(lambda h: bool(world.partnered[h, 0])).to_numpy()
    relation = np.where((role == "mother") & single, "世帯主", relation)
    birth = people.loc[spells["person_id"], "birth_date"].to_numpy().astype("datetime64[D]")
    moved_in = _random_day(start, spells["person_start"].to_numpy(), rng)
    is_birth = (role == "child") & (
        spells["person_start"].to_numpy() == spells["joined_month"].to_numpy()
    )
    moved_in = np.where(is_birth, birth, moved_in)
    kind = spells["move_kind"].to_numpy()
    reason = np.where(
        spells["starts_before_window"].to_numpy() | (spells["person_start"].to_numpy() == 0),
        "既存",
        np.where(
            is_birth,
            "出生",
            np.select([kind == "local", kind == "between"], ["転居", "転入"], "転入"),
        ),
    )
    pre_window = reason == "既存"
    moved_in = np.where(pre_window, np.minimum(birth + 30, month_start(start, -1)), moved_in)
    end_month = spells["person_end"].to_numpy()
    ended = end_month < world.profile.n_months
    end_day = np.where(
        ended, _random_day(start, np.minimum(end_month, 10_000), rng), np.datetime64("NaT")
    )
    notified = moved_in + rng.integers(0, 15, len(spells)).astype("timedelta64[D]")
    frame = pd.DataFrame(
        {
            "宛名番号": ctx.atena(spells["person_id"]),
            "世帯番号": [
                ctx.ids.get("setai", ctx.code, f"H{h}", 8) for h in spells["household_id"]
            ],
            "氏名": kanji,
            "氏名カナ": kana,
            "生年月日": _dates(birth, rng, style),
            "性別": np.where(spells["sex"].to_numpy() == "M", "1", "2"),
            "続柄": relation,
            "住所": address,
            "方書": building,
            "国籍": np.where(spells["foreign"].to_numpy(), "外国籍", "日本"),
            "異動事由": reason,
            "住定日": _dates(moved_in, rng, style),
            "届出日": _dates(np.where(pre_window, moved_in, notified), rng, style),
            "消除日": _dates(end_day, rng, style),
        }
    )
    # Surname changes, as registry events.
    changes = world.name_changes.merge(
        spells[["person_id", "person_start", "person_end"]], on="person_id"
    )
    changes = changes[
        (changes["month"] >= changes["person_start"]) & (changes["month"] < changes["person_end"])
    ]
    changed = changes.merge(
        world.people[["person_id", "given_name", "given_name_kana"]], on="person_id"
    )
    c_kanji, c_kana = _names(changed, rng, style, ctx.gaiji)
    change_day = _random_day(start, changed["month"].to_numpy(), rng)
    name_frame = pd.DataFrame(
        {
            "宛名番号": ctx.atena(changed["person_id"]),
            "異動事由": "氏名変更",
            "新氏名": c_kanji,
            "新氏名カナ": c_kana,
            "変更理由": changed["reason"].to_numpy(),
            "異動日": _dates(change_day, rng, style),
            "届出日": _dates(
                change_day + rng.integers(0, 15, len(changed)).astype("timedelta64[D]"), rng, style
            ),
        }
    )
    return [("jumin.csv", "registry", frame), ("shimei_henko.csv", "registry", name_frame)]


def _household_heads(ctx: _MunicipalityContext) -> pd.DataFrame:
    spells = ctx.spells[
        (ctx.spells["municipality"] == ctx.index) & (ctx.spells["role"] == "mother")
    ]
    return spells


def _tax_and_welfare(ctx: _MunicipalityContext) -> RenderResult:
    world, rng, style = ctx.world, ctx.rng, STYLES["welfare"]
    start, n_months = world.profile.start, world.profile.n_months
    months = np.arange(n_months)
    fy = fiscal_year(start, months)
    heads = _household_heads(ctx)
    results: RenderResult = []

    # 住民税: one row per household head and fiscal year, decided in June from last year's income.
    income = world.income[["household_id", "fiscal_year", "equivalised_income"]]
    first_year = int(np.min(fy))
    frames = []
    for year in np.unique(fy):
        june = int(np.nonzero(fy == year)[0][0]) + 2
        active = heads[(heads["person_start"] <= june) & (heads["person_end"] > june)]
        # Tax for fiscal year Y is assessed on the previous year's income.
        basis = max(int(year) - 1, first_year)
        frames.append(
            active[["household_id", "person_id"]].assign(year=int(year), june=june, basis=basis)
        )
    tax = pd.concat(frames, ignore_index=True).merge(
        income.rename(columns={"fiscal_year": "basis", "equivalised_income": "income"}),
        on=["household_id", "basis"],
        how="left",
    )
    bracket = np.digitize(tax["income"], [100, 135, 180, 230, 290, 360, 450]) + 1
    known = _random_day(start, tax["june"].to_numpy(), rng)
    results.append(
        (
            "juminzei.csv",
            "tax",
            pd.DataFrame(
                {
                    "宛名番号": ctx.atena(tax["person_id"]),
                    "年度": tax["year"].to_numpy(),
                    "課税区分": np.where(
                        bracket <= 1, "非課税", np.where(bracket == 2, "均等割のみ", "課税")
                    ),
                    "所得段階": bracket,
                    "決定日": _dates(known, rng, style),
                }
            ),
        )
    )

    # 滞納: monthly arrears of tax and national health insurance, from economic strain.
    econ = world.econ
    head_row, head_month = _expand_spells(
        np.arange(len(heads)), heads["person_start"].to_numpy(), heads["person_end"].to_numpy()
    )
    head_household = heads["household_id"].to_numpy()[head_row]
    counts = rng.poisson(np.exp(-3.4 + 1.2 * econ[head_household, head_month]))
    positive = counts > 0
    arrears = list(
        zip(
            heads["person_id"].to_numpy()[head_row[positive]],
            head_month[positive],
            np.minimum(counts[positive], 12),
            strict=True,
        )
    )
    arrears_frame = pd.DataFrame(arrears, columns=["person_id", "month", "count"])
    ym = month_start(start, arrears_frame["month"].to_numpy())
    results.append(
        (
            "tainou.csv",
            "arrears",
            pd.DataFrame(
                {
                    "宛名番号": ctx.atena(arrears_frame["person_id"]),
                    "対象年月": format_year_months(
                        ym.astype("datetime64[Y]").astype(int) + 1970,
                        calendar_month(start, arrears_frame["month"].to_numpy()),
                        rng,
                        ("wareki_short", "slash"),
                        (0.5, 0.5),
                    ),
                    "滞納月数": arrears_frame["count"].to_numpy(),
                    "把握日": _dates(
                        _random_day(start, arrears_frame["month"].to_numpy() + 1, rng), rng, style
                    ),
                }
            ),
        )
    )

    # 生活保護: spells per household member present.
    pa = world.public_assistance
    muni = world.municipality
    members = ctx.spells[ctx.spells["municipality"] == ctx.index]
    member_row, member_month = _expand_spells(
        np.arange(len(members)),
        members["person_start"].to_numpy(),
        members["person_end"].to_numpy(),
    )
    member_household = members["household_id"].to_numpy()[member_row]
    on = pa[member_household, member_month] & (muni[member_household, member_month] == ctx.index)
    key, first, end = _runs(member_row[on], member_month[on])
    pa_rows = list(
        zip(
            members["person_id"].to_numpy()[key],
            members["household_id"].to_numpy()[key],
            first,
            end,
            strict=True,
        )
    )
    pa_frame = pd.DataFrame(pa_rows, columns=["person_id", "household_id", "start", "end"])
    begin = _random_day(start, pa_frame["start"].to_numpy(), rng)
    finish = np.where(
        pa_frame["end"].to_numpy() < n_months,
        _random_day(start, np.minimum(pa_frame["end"].to_numpy(), n_months), rng),
        np.datetime64("NaT"),
    )
    results.append(
        (
            "seikatsu_hogo.csv",
            "public_assistance",
            pd.DataFrame(
                {
                    "宛名番号": ctx.atena(pa_frame["person_id"]),
                    "世帯番号": [
                        ctx.ids.get("setai", ctx.code, f"H{h}", 8) for h in pa_frame["household_id"]
                    ],
                    "開始日": _dates(begin, rng, style),
                    "廃止日": _dates(finish, rng, style),
                    "把握日": _dates(
                        begin + rng.integers(0, 20, len(begin)).astype("timedelta64[D]"), rng, style
                    ),
                }
            ),
        )
    )

    # 児童扶養手当: single parents below the income limit, one row per child covered.
    children = members[members["role"] == "child"]
    child_row, child_month = _expand_spells(
        np.arange(len(children)),
        children["person_start"].to_numpy(),
        children["person_end"].to_numpy(),
    )
    child_household = children["household_id"].to_numpy()[child_row]
    eligible = (~world.partnered[child_household, child_month]) & (
        econ[child_household, child_month] > -0.2
    )
    key, first, end = _runs(child_row[eligible], child_month[eligible])
    allowance = list(
        zip(
            children["household_id"].to_numpy()[key],
            children["person_id"].to_numpy()[key],
            first,
            end,
            strict=True,
        )
    )
    allowance_frame = pd.DataFrame(allowance, columns=["household_id", "child", "start", "end"])
    mothers = (
        members[members["role"] == "mother"]
        .drop_duplicates("household_id")
        .set_index("household_id")["person_id"]
    )
    allowance_frame["recipient"] = allowance_frame["household_id"].map(mothers)
    allowance_frame = allowance_frame.dropna(subset=["recipient"])
    begin = _random_day(start, allowance_frame["start"].to_numpy(), rng)
    finish = np.where(
        allowance_frame["end"].to_numpy() < n_months,
        _random_day(start, np.minimum(allowance_frame["end"].to_numpy(), n_months), rng),
        np.datetime64("NaT"),
    )
    results.append(
        (
            "jido_fuyo_teate.csv",
            "single_parent_allowance",
            pd.DataFrame(
                {
                    "受給者宛名番号": ctx.atena(allowance_frame["recipient"]),
                    "対象児童宛名番号": ctx.atena(allowance_frame["child"]),
                    "認定日": _dates(begin, rng, style),
                    "資格喪失日": _dates(finish, rng, style),
                }
            ),
        )
    )

    # 障害者手帳 and 要介護認定 of household members (young-carer and abuse signals).
    hh = world.households
    unique = members.drop_duplicates("person_id")
    household = unique["household_id"].to_numpy()
    role = unique["role"].to_numpy()
    start_month = unique["person_start"].to_numpy()
    person_ids = unique["person_id"].to_numpy()
    n = len(unique)
    mental = (role == "mother") & hh["mother_prior_mental"].to_numpy()[household]
    mental &= rng.random(n) < 0.45
    # The parent with a physical disability is the father in odd households, else the mother.
    physical = np.isin(role, ["mother", "father"]) & hh["parent_disability"].to_numpy()[household]
    physical &= (role == "father") == (household % 2 == 1)
    child_index = unique["child_index"].to_numpy().astype(int)
    child_disabled = world.children["disability"].to_numpy()
    learning = (role == "child") & (child_index >= 0)
    learning[learning] = child_disabled[child_index[learning]]
    joined = unique["joined_month"].to_numpy()
    disability_rows = list(
        zip(
            person_ids[mental],
            np.full(int(mental.sum()), "精神障害者保健福祉手帳"),
            [f"{g}級" for g in rng.integers(1, 4, int(mental.sum()))],
            start_month[mental] - rng.integers(0, 60, int(mental.sum())),
            strict=True,
        )
    )
    disability_rows += list(
        zip(
            person_ids[physical],
            np.full(int(physical.sum()), "身体障害者手帳"),
            [f"{g}級" for g in rng.integers(1, 7, int(physical.sum()))],
            start_month[physical] - rng.integers(0, 120, int(physical.sum())),
            strict=True,
        )
    )
    disability_rows += list(
        zip(
            person_ids[learning],
            np.full(int(learning.sum()), "療育手帳"),
            rng.choice(["A", "B"], int(learning.sum())),
            # Issued at about two years old, never after the history ends.
            np.minimum(
                np.maximum(joined[learning] + 24, start_month[learning]),
                world.profile.n_months - 1,
            ),
            strict=True,
        )
    )
    dis = pd.DataFrame(disability_rows, columns=["person_id", "kind", "grade", "month"])
    issued = _random_day(start, dis["month"].to_numpy(), rng)
    results.append(
        (
            "shogai_techo.csv",
            "disability",
            pd.DataFrame(
                {
                    "宛名番号": ctx.atena(dis["person_id"]),
                    "手帳種別": dis["kind"].to_numpy(),
                    "等級": dis["grade"].to_numpy(),
                    "交付日": _dates(issued, rng, style),
                }
            ),
        )
    )
    grand = members[(members["role"] == "grandparent")].drop_duplicates("person_id")
    onset = hh["grandparent_care_onset"].to_numpy()[grand["household_id"].to_numpy()]
    grand = grand.assign(onset=onset)
    grand = grand[(grand["onset"] < n_months) & (grand["onset"] < grand["person_end"])]
    cert = _random_day(start, np.maximum(grand["onset"].to_numpy(), -36), rng)
    results.append(
        (
            "kaigo_nintei.csv",
            "care_need",
            pd.DataFrame(
                {
                    "宛名番号": ctx.atena(grand["person_id"]),
                    "要介護度": [f"要介護{k}" for k in rng.integers(1, 6, len(grand))],
                    "認定日": _dates(cert, rng, style),
                }
            ),
        )
    )
    return results


def _child_in_municipality(
    ctx: _MunicipalityContext, child_index: np.ndarray, months: np.ndarray
) -> np.ndarray:
    hh = ctx.world.children["household_id"].to_numpy()[child_index]
    return (
        ctx.world.municipality[hh, np.clip(months, 0, ctx.world.profile.n_months - 1)] == ctx.index
    )


def _child_person_ids(world: World) -> np.ndarray:
    children = world.people[world.people["role"] == "child"].sort_values("child_index")
    return children["person_id"].to_numpy()


def _child_protection(ctx: _MunicipalityContext) -> RenderResult:
    world, rng, style = ctx.world, ctx.rng, STYLES["welfare"]
    start = world.profile.start
    person = _child_person_ids(world)
    reports = world.events["abuse_report"]
    consults = world.events["consultation"]
    frames = []
    for frame, kind, result in (
        (reports, None, "虐待認定"),
        (consults, "養育相談", "助言・継続支援"),
    ):
        local = frame[
            _child_in_municipality(ctx, frame["child_index"].to_numpy(), frame["month"].to_numpy())
        ]
        received = _random_day(start, local["month"].to_numpy(), rng)
        kinds = (
            local["kind"].to_numpy()
            if kind is None
            else np.where(rng.random(len(local)) < 0.6, "養育相談", "育成相談")
        )
        frames.append(
            pd.DataFrame(
                {
                    "宛名番号": ctx.atena(pd.Series(person[local["child_index"].to_numpy()])),
                    "受付日": _dates(received, rng, style),
                    "相談種別": kinds,
                    "対応結果": result,
                    "記録日": _dates(
                        received + rng.integers(0, 10, len(local)).astype("timedelta64[D]"),
                        rng,
                        style,
                    ),
                }
            )
        )
    consultation = pd.concat(frames, ignore_index=True)
    registrations = world.events["registration"]
    local = registrations[
        _child_in_municipality(
            ctx,
            registrations["child_index"].to_numpy(),
            np.maximum(registrations["month"].to_numpy(), 0),
        )
    ]
    registered = _random_day(start, local["month"].to_numpy(), rng) + rng.integers(
        0, 25, len(local)
    ).astype("timedelta64[D]")
    ended = np.where(
        local["end_month"].to_numpy() < world.profile.n_months,
        _random_day(start, np.minimum(local["end_month"].to_numpy(), world.profile.n_months), rng),
        np.datetime64("NaT"),
    )
    yotaikyo = pd.DataFrame(
        {
            "宛名番号": ctx.atena(pd.Series(person[local["child_index"].to_numpy()])),
            "登録日": _dates(registered, rng, style),
            "登録区分": np.where(local["for_abuse"].to_numpy(), "要保護児童", "要支援児童"),
            "主たる理由": np.where(local["for_abuse"].to_numpy(), "虐待", "養育困難"),
            "終結日": _dates(ended, rng, style),
        }
    )
    return [
        ("soudan.csv", "consultation", consultation),
        ("yotaikyo.csv", "child_protection", yotaikyo),
    ]


def _school(ctx: _MunicipalityContext) -> RenderResult:
    """Board of education: register, attendance, health check, 就学援助, young-carer survey."""
    world, rng, style = ctx.world, ctx.rng, STYLES["school"]
    start, n_months = world.profile.start, world.profile.n_months
    months = np.arange(n_months)
    fy = fiscal_year(start, months)
    person = _child_person_ids(world)
    children = world.children
    hh = children["household_id"].to_numpy()
    pupil = (world.grade >= 1) & (world.grade <= 9) & world.present[hh]
    here = pupil & (world.municipality[hh] == ctx.index)
    renumber = ctx.municipality.renumber_at_junior_high

    def pupil_number(child: int, month: int) -> str:
        stage = "J" if renumber and world.grade[child, month] >= 7 else ""
        return ctx.ids.get("pupil", ctx.code, str(person[child]), 7, prefix=stage)

    results: RenderResult = []
    # 学籍: one row per pupil per school year (as of the first month enrolled that year).
    register_rows = []
    for year in np.unique(fy):
        cols = np.nonzero(fy == year)[0]
        first = np.where(here[:, cols].any(axis=1), cols[np.argmax(here[:, cols], axis=1)], -1)
        for child in np.nonzero(first >= 0)[0]:
            register_rows.append((int(child), int(first[child]), int(year)))
    reg = pd.DataFrame(register_rows, columns=["child", "month", "year"])
    names = _name_at(world, person[reg["child"].to_numpy()], reg["month"].to_numpy())
    kanji, kana = _names(names, rng, style, None)
    seeds = _address_seed_at(world, hh[reg["child"].to_numpy()], reg["month"].to_numpy())
    address, _ = _addresses(seeds, ctx.municipality, style.address_style, rng)
    grade = world.grade[reg["child"].to_numpy(), reg["month"].to_numpy()]
    birth = children["birth_date"].to_numpy()[reg["child"].to_numpy()]
    results.append(
        (
            "gakuseki.csv",
            "school_register",
            pd.DataFrame(
                {
                    "児童生徒番号": [
                        pupil_number(c, m) for c, m in zip(reg["child"], reg["month"], strict=True)
                    ],
                    "年度": reg["year"].to_numpy(),
                    "学校種別": np.where(grade >= 7, "中学校", "小学校"),
                    "学年": np.where(grade >= 7, grade - 6, grade),
                    "氏名": kanji,
                    "氏名カナ": kana,
                    "生年月日": _dates(birth, rng, style),
                    "性別": np.where(
                        children["sex"].to_numpy()[reg["child"].to_numpy()] == "M", "男", "女"
                    ),
                    "住所": address,
                    "在籍開始日": _dates(
                        _random_day(start, reg["month"].to_numpy(), rng), rng, style
                    ),
                }
            ),
        )
    )
    # 出欠: monthly attendance per pupil, reported around the 10th of the next month.
    child_idx, month_idx = np.nonzero(here)
    late_report = rng.random(len(child_idx)) < 0.03
    reported = month_start(start, month_idx + 1 + late_report) + rng.integers(
        5, 15, len(child_idx)
    ).astype("timedelta64[D]")
    days = _SCHOOL_DAY_TABLE[calendar_month(start, month_idx)]
    nurse = world.nurse_visits[child_idx, month_idx].astype(object)
    if not ctx.municipality.holds("nurse_visits"):
        nurse = np.full(len(child_idx), "", dtype=object)
    results.append(
        (
            "shukketsu.csv",
            "attendance",
            pd.DataFrame(
                {
                    "児童生徒番号": _pupil_numbers(
                        pupil_number, world, child_idx, month_idx, renumber
                    ),
                    "対象年月": _year_month_text(start, month_idx),
                    "授業日数": days,
                    "欠席日数": world.absence_days[child_idx, month_idx],
                    "うち病気欠席": world.illness_days[child_idx, month_idx],
                    "遅刻日数": world.late_days[child_idx, month_idx],
                    "保健室来室回数": nurse,
                    "報告日": _dates(reported, rng, style),
                }
            ),
        )
    )
    # 健康診断: height and weight measured each May, reported in July.
    if ctx.municipality.holds("health_check"):
        may = np.nonzero(calendar_month(start, months) == 5)[0]
        rows = [(c, m) for m in may for c in np.nonzero(here[:, m])[0]]
        hc = pd.DataFrame(rows, columns=["child", "month"])
        c = hc["child"].to_numpy()
        m = hc["month"].to_numpy()
        age_years = (m - children["birth_month"].to_numpy()[c]) / 12
        strain = np.clip(world.econ[hh[c], m], 0, None) + np.clip(world.mental[hh[c], m], 0, None)
        z = _child_z(len(children))[c] - 0.25 * strain + rng.normal(0, 0.3, len(c))
        height = 116 + 6.2 * (age_years - 6) + 5 * z
        weight = (21 + 3.4 * (age_years - 6) + 1.2 * np.clip(age_years - 11, 0, None)) * np.exp(
            0.12 * z
        )
        results.append(
            (
                "kenko_shindan.csv",
                "health_check",
                pd.DataFrame(
                    {
                        "児童生徒番号": [
                            pupil_number(int(a), int(b)) for a, b in zip(c, m, strict=True)
                        ],
                        "測定日": _dates(_random_day(start, m, rng), rng, style),
                        "身長": np.round(height, 1),
                        "体重": np.round(weight, 1),
                        "報告日": _dates(_random_day(start, m + 2, rng), rng, style),
                    }
                ),
            )
        )
    # 就学援助: one row per pupil and school year certified.
    aid = world.school_aid & here
    aid_rows = []
    for year in np.unique(fy):
        cols = np.nonzero(fy == year)[0]
        on = aid[:, cols]
        for child in np.nonzero(on.any(axis=1))[0]:
            first = cols[np.argmax(on[child])]
            last = cols[len(cols) - 1 - np.argmax(on[child][::-1])]
            aid_rows.append((int(child), int(year), int(first), int(last)))
    aid_frame = pd.DataFrame(aid_rows, columns=["child", "year", "first", "last"])
    on_pa = world.public_assistance[
        hh[aid_frame["child"].to_numpy()], aid_frame["first"].to_numpy()
    ]
    cancelled = np.where(
        (aid_frame["last"].to_numpy() < n_months - 1)
        & (
            fy[np.minimum(aid_frame["last"].to_numpy() + 1, n_months - 1)]
            == aid_frame["year"].to_numpy()
        ),
        _random_day(start, aid_frame["last"].to_numpy() + 1, rng),
        np.datetime64("NaT"),
    )
    guardian = _guardian_names(
        world, hh[aid_frame["child"].to_numpy()], aid_frame["first"].to_numpy(), rng, style
    )
    results.append(
        (
            "shugaku_enjo.csv",
            "school_aid",
            pd.DataFrame(
                {
                    "児童生徒番号": [
                        pupil_number(int(c), int(m))
                        for c, m in zip(aid_frame["child"], aid_frame["first"], strict=True)
                    ],
                    "年度": aid_frame["year"].to_numpy(),
                    "区分": np.where(on_pa, "要保護", "準要保護"),
                    "保護者氏名": guardian,
                    "認定日": _dates(
                        _random_day(start, aid_frame["first"].to_numpy(), rng), rng, style
                    ),
                    "取消日": _dates(cancelled, rng, style),
                }
            ),
        )
    )
    # ヤングケアラー: identified by the July survey (pupil number) or by case work (宛名番号).
    if ctx.municipality.holds("young_carer"):
        found = world.events["young_carer_identified"]
        local = found[
            _child_in_municipality(ctx, found["child_index"].to_numpy(), found["month"].to_numpy())
        ]
        onsets = world.onsets[world.onsets["hardship"] == "young_carer"]
        started = []
        for child, month in zip(local["child_index"], local["month"], strict=True):
            candidates = onsets.loc[
                (onsets["child_index"] == child) & (onsets["month"] <= month), "month"
            ]
            started.append(int(candidates.max()) if len(candidates) else -1)
        started_arr = np.array(started, dtype=int)
        survey = local["route"].to_numpy() == "調査"
        child_arr = local["child_index"].to_numpy()
        month_arr = local["month"].to_numpy()
        id_pupil = [
            pupil_number(int(c), int(m)) if s else ""
            for c, m, s in zip(child_arr, month_arr, survey, strict=True)
        ]
        id_atena = [
            "" if s else ctx.ids.get("atena", ctx.code, str(person[c]), 10)
            for c, s in zip(child_arr, survey, strict=True)
        ]
        start_ym = month_start(start, np.maximum(started_arr, 0))
        cared = world.onsets.loc[world.onsets["hardship"] == "young_carer"].set_index(
            ["child_index", "month"]
        )["cared_for"]
        results.append(
            (
                "young_carer.csv",
                "young_carer",
                pd.DataFrame(
                    {
                        "児童生徒番号": id_pupil,
                        "宛名番号": id_atena,
                        "把握日": _dates(_random_day(start, month_arr, rng), rng, style),
                        "把握経路": local["route"].to_numpy(),
                        "ケア対象": [
                            cared.get((int(c), int(s)), "不明")
                            for c, s in zip(child_arr, started_arr, strict=True)
                        ],
                        "開始時期": [
                            "" if s < 0 else str(_year_month_text(start, np.array([s]))[0])
                            for s, d in zip(started_arr, start_ym, strict=True)
                        ],
                    }
                ),
            )
        )
    return results


def _pupil_numbers(
    pupil_number: Callable[[int, int], str],
    world: World,
    child_idx: np.ndarray,
    month_idx: np.ndarray,
    renumber: bool,
) -> np.ndarray:
    """Pupil numbers for many rows: one lookup per (child, stage), not per row."""
    stage = (world.grade[child_idx, month_idx] >= 7) & renumber
    key = child_idx.astype(np.int64) * 2 + stage
    unique, inverse = np.unique(key, return_inverse=True)
    months_for = np.zeros(len(unique), dtype=np.int64)
    months_for[inverse] = month_idx
    values = np.array(
        [pupil_number(int(k // 2), int(m)) for k, m in zip(unique, months_for, strict=True)],
        dtype=object,
    )
    return values[inverse]


def _year_month_text(start: tuple[int, int], months: np.ndarray) -> np.ndarray:
    unique, inverse = np.unique(months, return_inverse=True)
    labels = np.datetime_as_string(month_start(start, unique).astype("datetime64[M]"))
    return np.char.replace(labels, "-", "/")[inverse].astype(object)


_SCHOOL_DAY_TABLE = np.array([0] + [SCHOOL_DAYS[m] for m in range(1, 13)])


def _child_z(n: int) -> np.ndarray:
    """Each child's own growth z-score, the same in every town's health check (seeded by size)."""
    return np.random.default_rng(n).normal(0, 1, n)


def _address_seed_at(world: World, households: np.ndarray, months: np.ndarray) -> np.ndarray:
    matrix = world.address_matrix
    if matrix is None:
        spells = world.residences
        n_households, n_months = world.present.shape
        grid = np.zeros((n_households, n_months), dtype=np.int64)
        h, m = _expand_spells(
            spells["household_id"].to_numpy(),
            np.clip(spells["start_month"].to_numpy(), 0, n_months),
            np.clip(spells["end_month"].to_numpy(), 0, n_months),
        )
        seeds = spells["address_seed"].astype(np.int64).to_numpy()
        grid[h, m] = np.repeat(
            seeds,
            np.clip(spells["end_month"], 0, n_months).to_numpy()
            - np.clip(spells["start_month"], 0, n_months).to_numpy(),
        )
        # Months outside any spell (before arrival, after leaving) keep the nearest address.
        first = spells.groupby("household_id")["address_seed"].first().astype(np.int64)
        empty = grid == 0
        grid[empty] = np.repeat(
            first.reindex(range(n_households)).fillna(0).to_numpy().astype(np.int64)[:, None],
            n_months,
            1,
        )[empty]
        world.address_matrix = grid
        matrix = grid
    return np.asarray(matrix)[households, np.clip(months, 0, world.present.shape[1] - 1)]


def _expand_spells(
    rows: np.ndarray, starts: np.ndarray, ends: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Expand [start, end) spells into one (row, month) cell per month, vectorised."""
    lengths = np.maximum(ends - starts, 0)
    row_index = np.repeat(rows, lengths)
    offsets = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return row_index, np.repeat(starts, lengths) + offsets


def _runs(keys: np.ndarray, months: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Consecutive-month runs within each key: (key, first month, end month exclusive)."""
    if len(keys) == 0:
        empty = np.array([], dtype=np.int64)
        return empty, empty, empty
    order = np.lexsort((months, keys))
    k, m = keys[order], months[order]
    new_run = np.ones(len(k), dtype=bool)
    new_run[1:] = (k[1:] != k[:-1]) | (m[1:] != m[:-1] + 1)
    starts = np.nonzero(new_run)[0]
    ends = np.append(starts[1:], len(k))
    return k[starts], m[starts], m[ends - 1] + 1


def _guardian_names(
    world: World,
    households: np.ndarray,
    months: np.ndarray,
    rng: np.random.Generator,
    style: DepartmentStyle,
) -> list[str]:
    mothers = world.people[world.people["role"] == "mother"].set_index("household_id")["person_id"]
    ids = mothers.loc[households].to_numpy()
    names = _name_at(world, ids, months)
    kanji, _ = _names(names, rng, style, None)
    return kanji


def _maternal(ctx: _MunicipalityContext) -> RenderResult:
    """Maternal and child health: pregnancy notification, births, EPDS, checkups, vaccinations."""
    world, rng, style = ctx.world, ctx.rng, STYLES["maternal"]
    start, n_months = world.profile.start, world.profile.n_months
    children = world.children
    hh = children["household_id"].to_numpy()
    person = _child_person_ids(world)
    people = world.people
    mothers = people[people["role"] == "mother"].set_index("household_id")
    birth = children["birth_month"].to_numpy()
    # Births whose pregnancy was notified here (notification about seven months before birth).
    born = np.nonzero((birth >= 0) & world.present[hh, np.clip(birth, 0, n_months - 1)])[0]
    born = born[world.municipality[hh[born], birth[born]] == ctx.index]
    twin_dup = (
        children["twin"].to_numpy()[born]
        & children.duplicated(["household_id", "birth_date"]).to_numpy()[born]
    )
    h = hh[born]
    b = birth[born]
    strain = (
        0.5 * world.instability[h, b]
        + 0.5 * world.mental[h, b]
        + 0.4 * world.econ[h, b]
        + 0.8 * world.households["young_mother"].to_numpy()[h]
        + 0.6 * world.households["foreign"].to_numpy()[h]
    )
    week = np.clip(np.round(6.5 + rng.gamma(1.6, 1.3 * np.exp(0.45 * strain))), 5, 40).astype(int)
    birth_day = children["birth_date"].to_numpy()[born].astype("datetime64[D]")
    notified = birth_day - ((40 - week) * 7).astype("timedelta64[D]")
    mother_ids = mothers.loc[h, "person_id"].to_numpy()
    mnames = _name_at(world, mother_ids, np.maximum(b - 7, 0))
    m_kanji, m_kana = _names(mnames, rng, style, None)
    seeds = _address_seed_at(world, h, b)
    address, _ = _addresses(seeds, ctx.municipality, style.address_style, rng)
    mother_record = [ctx.ids.get("boshi", ctx.code, str(pid), 8, prefix="M") for pid in mother_ids]
    keep = ~twin_dup
    results: RenderResult = [
        (
            "ninshin_todokede.csv",
            "pregnancy",
            pd.DataFrame(
                {
                    "母子記録番号": np.array(mother_record)[keep],
                    "母氏名": np.array(m_kanji, dtype=object)[keep],
                    "母氏名カナ": np.array(m_kana, dtype=object)[keep],
                    "母生年月日": _dates(
                        mothers.loc[h, "birth_date"].to_numpy().astype("datetime64[D]")[keep],
                        rng,
                        style,
                    ),
                    "住所": np.array(address, dtype=object)[keep],
                    "届出日": _dates(notified[keep], rng, style),
                    "届出時妊娠週数": week[keep],
                    "出産予定日": _dates(
                        (birth_day + rng.integers(-14, 14, len(born)).astype("timedelta64[D]"))[
                            keep
                        ],
                        rng,
                        style,
                    ),
                }
            ),
        )
    ]
    # 出生 (newborn record) for births here.
    cnames = _name_at(world, person[born], b)
    c_kanji, c_kana = _names(cnames, rng, style, None)
    child_record = [ctx.ids.get("boshi", ctx.code, str(p), 8, prefix="C") for p in person[born]]
    low = children["low_birth_weight"].to_numpy()[born]
    weight = np.where(
        low, rng.normal(2200, 250, len(born)), rng.normal(3050, 380, len(born))
    ).round()
    results.append(
        (
            "shussei.csv",
            "birth",
            pd.DataFrame(
                {
                    "子記録番号": child_record,
                    "母子記録番号": mother_record,
                    "子氏名": c_kanji,
                    "子氏名カナ": c_kana,
                    "生年月日": _dates(birth_day, rng, style),
                    "性別": np.where(children["sex"].to_numpy()[born] == "M", "男", "女"),
                    "出生体重": weight.astype(int),
                    "登録日": _dates(
                        birth_day + rng.integers(7, 30, len(born)).astype("timedelta64[D]"),
                        rng,
                        style,
                    ),
                }
            ),
        )
    )
    if ctx.municipality.holds("epds"):
        epds = world.events["epds"]
        epds = epds[np.isin(epds["child_index"].to_numpy(), born)]
        epds = epds[rng.random(len(epds)) > 0.05]  # some mothers are not screened
        record_of = dict(zip(born, mother_record, strict=True))
        done = _random_day(start, epds["month"].to_numpy(), rng)
        results.append(
            (
                "epds.csv",
                "epds",
                pd.DataFrame(
                    {
                        "母子記録番号": [record_of[c] for c in epds["child_index"]],
                        "実施日": _dates(done, rng, style),
                        "実施機会": np.select(
                            [epds["screening"].to_numpy() == 1, epds["screening"].to_numpy() == 2],
                            ["産婦健診", "新生児訪問"],
                            "乳児健診",
                        ),
                        "EPDS合計点": epds["score"].to_numpy(),
                        "記録日": _dates(
                            done + rng.integers(0, 14, len(epds)).astype("timedelta64[D]"),
                            rng,
                            style,
                        ),
                    }
                ),
            )
        )
    # 乳幼児健診 and 予防接種.
    chk = _scheduled(
        ctx,
        (("4か月児健診", 4), ("1歳6か月児健診", 18), ("3歳児健診", 36)),
        intercept=-3.6,
        slopes=(0.8, 0.6, 0.4),
    )
    attended = _random_day(start, chk["due"].to_numpy(), rng)
    results.append(
        (
            "nyuyoji_kenshin.csv",
            "infant_checkup",
            pd.DataFrame(
                {
                    "子記録番号": [
                        ctx.ids.get("boshi", ctx.code, str(person[c]), 8, prefix="C")
                        for c in chk["child"]
                    ],
                    "子氏名カナ": render_kana_names(
                        _name_at(world, person[chk["child"].to_numpy()], chk["due"].to_numpy())[
                            "surname_kana"
                        ].to_numpy(),
                        people.set_index("person_id")
                        .loc[person[chk["child"].to_numpy()], "given_name_kana"]
                        .to_numpy(),
                        rng,
                        p_hiragana=0.3,
                        p_halfwidth=0.1,
                        p_missing=0.02,
                        p_space_variants=0.1,
                    ),
                    "生年月日": _dates(
                        children["birth_date"]
                        .to_numpy()[chk["child"].to_numpy()]
                        .astype("datetime64[D]"),
                        rng,
                        style,
                    ),
                    "健診区分": chk["kind"].to_numpy(),
                    "対象年月": _year_month_text(start, chk["due"].to_numpy()),
                    "受診状況": np.where(chk["missed"].to_numpy(), "未受診", "受診"),
                    "受診日": _dates(
                        np.where(chk["missed"].to_numpy(), np.datetime64("NaT"), attended),
                        rng,
                        style,
                    ),
                    "把握日": _dates(month_start(start, chk["due"].to_numpy() + 2), rng, style),
                }
            ),
        )
    )
    vac = _scheduled(
        ctx,
        (("五種混合1回", 2), ("五種混合2回", 3), ("五種混合3回", 4), ("BCG", 5), ("MR1期", 12)),
        intercept=-3.9,
        slopes=(0.7, 0.5, 0.3),
    )
    given = _random_day(start, vac["due"].to_numpy(), rng)
    results.append(
        (
            "yobo_sesshu.csv",
            "vaccination",
            pd.DataFrame(
                {
                    "子記録番号": [
                        ctx.ids.get("boshi", ctx.code, str(person[c]), 8, prefix="C")
                        for c in vac["child"]
                    ],
                    "ワクチン": vac["kind"].to_numpy(),
                    "接種予定年月": _year_month_text(start, vac["due"].to_numpy()),
                    "接種状況": np.where(vac["missed"].to_numpy(), "未接種", "接種済"),
                    "接種日": _dates(
                        np.where(vac["missed"].to_numpy(), np.datetime64("NaT"), given), rng, style
                    ),
                    "把握日": _dates(month_start(start, vac["due"].to_numpy() + 2), rng, style),
                }
            ),
        )
    )
    return results


def _scheduled(
    ctx: _MunicipalityContext,
    schedule: tuple[tuple[str, int], ...],
    *,
    intercept: float,
    slopes: tuple[float, float, float],
) -> pd.DataFrame:
    """Checkups or vaccinations due here, by age in months; missed more often under strain.

    Every child living here at the due month is listed, born here or moved in.
    """
    world, rng = ctx.world, ctx.rng
    n_months = world.profile.n_months
    hh = world.children["household_id"].to_numpy()
    birth = world.children["birth_month"].to_numpy()
    rows = []
    for label, age in schedule:
        due = birth + age
        idx = np.nonzero((due >= 0) & (due < n_months))[0]
        h, d = hh[idx], due[idx]
        here = world.present[h, d] & (world.municipality[h, d] == ctx.index)
        idx, h, d = idx[here], h[here], d[here]
        risk = expit(
            intercept
            + slopes[0] * world.instability[h, d]
            + slopes[1] * world.mental[h, d]
            + slopes[2] * world.econ[h, d]
        )
        missed = rng.random(len(idx)) < risk
        rows.append(pd.DataFrame({"child": idx, "kind": label, "due": d, "missed": missed}))
    return pd.concat(rows, ignore_index=True)


_RENDERERS: tuple[Callable[[_MunicipalityContext], RenderResult], ...] = (
    _registry,
    _tax_and_welfare,
    _child_protection,
    _school,
    _maternal,
)

# Defects injected into a few files so that ingestion's quarantine has real work: each is recorded
# in the ground truth with its file and line.
_DEFECT_FILES = {"jumin.csv": "氏名", "gakuseki.csv": "生年月日", "shussei.csv": "生年月日"}


def _inject_defects(
    frame: pd.DataFrame,
    rng: np.random.Generator,
    name: str,
    defects: list[tuple[str, int, str]],
    municipality: Municipality,
) -> pd.DataFrame:
    if name not in _DEFECT_FILES or frame.empty:
        return frame
    column = _DEFECT_FILES[name]
    n_bad = max(1, len(frame) // 2000)
    rows = rng.choice(len(frame), size=n_bad, replace=False)
    frame = frame.copy()
    department = {
        "jumin.csv": "registry",
        "gakuseki.csv": "school_register",
        "shussei.csv": "birth",
    }[name]
    relative = f"{municipality.code}/{department}/{name}"
    for row in rows:
        if column == "氏名":
            frame.iat[row, frame.columns.get_loc(column)] = ""
            defects.append((relative, int(row) + 2, "empty_name"))
        else:
            frame.iat[row, frame.columns.get_loc(column)] = "令和3年2月30日"
            defects.append((relative, int(row) + 2, "impossible_date"))
    # Exact duplicate rows, as when an extract is re-run and appended.
    dup = frame.sample(n=max(1, len(frame) // 500), random_state=int(rng.integers(0, 2**31)))
    start_line = len(frame) + 2
    for offset in range(len(dup)):
        defects.append((relative, start_line + offset, "duplicate_row"))
    return pd.concat([frame, dup], ignore_index=True)
