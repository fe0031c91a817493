"""The hidden world: households, people, latent monthly hardship processes, events and outcomes.

Nothing here is written to the extracts directly; `extracts` renders what each department would see
and `ground_truth` keeps the truth for evaluation. A latent monthly process per household (economic
strain, parental mental health, instability, care burden) with shocks such as job loss, separation
and illness drives both the observable signals and the outcomes, with noise, so that signals precede
outcomes by months and no single signal gives the answer away.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import pandas as pd
from scipy.special import expit
from scipy.stats import norm, poisson

from synthetic.calendar import SCHOOL_DAYS, calendar_month, fiscal_year, month_start, school_grade
from synthetic.profiles import Profile

HARDSHIPS = ("abuse", "poverty", "truancy", "postpartum_depression", "young_carer")
# The true risk of the event a municipality's records show, where it is not every onset of the
# hardship: a young carer's spell is recorded (with the month it began) only once the child is
# identified, by the July school survey of grades 4-9 or by case work, often months later, and
# a spell never identified is never recorded. Written beside the hardships' risks.
YOUNG_CARER_RECORDED = "young_carer_recorded"
HORIZON_MONTHS = 6
EPDS_CUTOFF = 9  # the Japanese cut-off (9 or more)

# National targets (domain.md section 1) the hazards are calibrated to.
TARGET_ABUSE_ANNUAL = 0.012
TARGET_PUBLIC_ASSISTANCE_STOCK = 0.013
TARGET_TRUANCY_ELEMENTARY = 0.023
TARGET_TRUANCY_JUNIOR_HIGH = 0.068
TARGET_EPDS_POSITIVE = 0.12
TARGET_YOUNG_CARER_STOCK = 0.055
# Monthly chance that a caring child is identified: by the July school survey (grades 4-9),
# or by case work in any month.
SURVEY_FINDS = 0.6
CASE_WORK_FINDS = 0.015
TARGET_CHILD_POVERTY = 0.115
ABSENCE_SLOPE = 1.1
AID_TAKE_UP = 0.6  # not every eligible family applies in a given year
AID_RENEWAL = 0.95
PA_SLOPE = 1.6
AID_SCORE_NOISE = 2.2  # families differ in whether and when they apply
POVERTY_LINE = 127.0  # 10k yen a year, 国民生活基礎調査 2022


class Progress(Protocol):
    def start(self, description: str, total: int) -> None: ...

    def advance(self, steps: int = 1) -> None: ...


class NullProgress:
    def start(self, description: str, total: int) -> None:
        return None

    def advance(self, steps: int = 1) -> None:
        return None


@dataclass
class World:
    """Everything that really happened, at household, person and child-month level."""

    profile: Profile
    households: pd.DataFrame
    people: pd.DataFrame
    # Residence spells: where each household lived, month by month ranges [start, end).
    residences: pd.DataFrame
    # Surname changes after separation or remarriage.
    name_changes: pd.DataFrame
    # (household, month) arrays.
    econ: np.ndarray
    mental: np.ndarray
    instability: np.ndarray
    care: np.ndarray
    partnered: np.ndarray
    present: np.ndarray
    municipality: np.ndarray
    income: pd.DataFrame
    public_assistance: np.ndarray
    # (child, month) arrays, children indexed by position in `children`.
    children: pd.DataFrame
    disengagement: np.ndarray
    absence_days: np.ndarray
    illness_days: np.ndarray
    late_days: np.ndarray
    nurse_visits: np.ndarray
    school_aid: np.ndarray
    grade: np.ndarray
    events: dict[str, pd.DataFrame] = field(default_factory=dict)
    true_risk: pd.DataFrame = field(default_factory=pd.DataFrame)
    onsets: pd.DataFrame = field(default_factory=pd.DataFrame)
    support: dict[str, np.ndarray] = field(default_factory=dict)
    # Address seed per (household, month), filled lazily by the extract renderer.
    address_matrix: np.ndarray | None = None


def _bisect_intercept(
    linear: np.ndarray, target: float, lo: float = -20.0, hi: float = 10.0
) -> float:
    """Intercept a such that mean(expit(a + linear)) == target: calibration by construction."""
    for _ in range(50):
        mid = (lo + hi) / 2
        if float(expit(mid + linear).mean()) < target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def _ar_step(
    previous: np.ndarray, mean: np.ndarray, rho: float, shock: np.ndarray, noise: np.ndarray
) -> np.ndarray:
    return rho * previous + (1 - rho) * mean + shock + noise


def simulate(profile: Profile, rng: np.random.Generator, progress: Progress) -> World:
    n_months = profile.n_months
    start = profile.start
    progress.start("households and people", 4)

    households, children = _draw_households(profile, rng)
    progress.advance()
    n_households = len(households)
    n_children = len(children)
    hh_of_child = children["household_id"].to_numpy()

    # ---- household events over the timeline -------------------------------------------------
    entry = households["entry_month"].to_numpy()
    exit_ = households["exit_month"].to_numpy()
    months = np.arange(n_months)
    present = (months[None, :] >= entry[:, None]) & (months[None, :] < exit_[:, None])

    young_mother = households["young_mother"].to_numpy().astype(float)
    foreign = households["foreign"].to_numpy().astype(float)
    prior_mental = households["mother_prior_mental"].to_numpy().astype(float)
    parent_disability = households["parent_disability"].to_numpy().astype(float)
    many_children = (households["n_children"].to_numpy() >= 3).astype(float)
    care_onset = households["grandparent_care_onset"].to_numpy()
    child_disability_hh = (
        (children.groupby("household_id")["disability"].max().reindex(range(n_households)))
        .fillna(0)
        .to_numpy()
        .astype(float)
    )

    u_econ = rng.normal(0, 0.7, n_households)
    u_mental = rng.normal(0, 0.6, n_households)
    u_instab = rng.normal(0, 0.5, n_households)
    u_care = rng.normal(0, 0.4, n_households)

    partnered = np.zeros((n_households, n_months), dtype=bool)
    econ = np.zeros((n_households, n_months))
    mental = np.zeros((n_households, n_months))
    instab = np.zeros((n_households, n_months))
    care = np.zeros((n_households, n_months))
    job_loss = np.zeros((n_households, n_months), dtype=bool)
    separation = np.zeros((n_households, n_months), dtype=bool)
    remarriage = np.zeros((n_households, n_months), dtype=bool)
    illness = np.zeros((n_households, n_months), dtype=bool)
    move_local = np.zeros((n_households, n_months), dtype=bool)
    move_between = np.zeros((n_households, n_months), dtype=bool)

    is_partnered = ~households["single_at_start"].to_numpy()
    step_parent = np.zeros(n_households, dtype=bool)

    def means(single: np.ndarray, month: int) -> tuple[np.ndarray, ...]:
        s = single.astype(float)
        care_active = (care_onset <= month).astype(float)
        m_econ = -0.35 + 1.25 * s + 0.45 * foreign + 0.5 * young_mother + 0.25 * many_children
        m_mental = -0.2 + 1.1 * prior_mental + 0.35 * s + 0.3 * young_mother
        m_instab = -0.2 + 0.5 * s + 0.4 * foreign + 0.4 * young_mother
        m_care = -0.3 + 1.6 * care_active + 1.1 * parent_disability + 0.8 * child_disability_hh
        return (m_econ + u_econ, m_mental + u_mental, m_instab + u_instab, m_care + u_care)

    m_e, m_m, m_i, m_c = means(~is_partnered, 0)
    e_prev = m_e + rng.normal(0, 0.45, n_households)
    p_prev = m_m + rng.normal(0, 0.45, n_households)
    i_prev = m_i + rng.normal(0, 0.4, n_households)
    c_prev = m_c + rng.normal(0, 0.3, n_households)
    progress.advance()

    for t in range(n_months):
        single = ~is_partnered
        m_e, m_m, m_i, m_c = means(single, t)
        job_loss[:, t] = rng.random(n_households) < 0.0025 * np.exp(0.35 * e_prev)
        illness[:, t] = rng.random(n_households) < 0.0015 * np.exp(0.3 * p_prev)
        separation[:, t] = is_partnered & (
            rng.random(n_households) < 0.0012 * np.exp(0.45 * p_prev + 0.25 * e_prev)
        )
        remarriage[:, t] = single & (rng.random(n_households) < 0.0035)
        move_local[:, t] = rng.random(n_households) < 0.0035 * np.exp(0.35 * i_prev)
        move_between[:, t] = ~move_local[:, t] & (
            rng.random(n_households) < 0.0012 * np.exp(0.35 * i_prev)
        )
        is_partnered = (is_partnered & ~separation[:, t]) | remarriage[:, t]
        step_parent |= remarriage[:, t]
        partnered[:, t] = is_partnered
        sep = separation[:, t].astype(float)
        econ[:, t] = _ar_step(
            e_prev,
            m_e,
            0.95,
            1.5 * job_loss[:, t] + 0.7 * sep - 0.6 * remarriage[:, t],
            rng.normal(0, 0.13, n_households),
        )
        mental[:, t] = _ar_step(
            p_prev,
            m_m,
            0.95,
            1.2 * illness[:, t] + 0.9 * sep + 0.3 * job_loss[:, t],
            rng.normal(0, 0.13, n_households),
        )
        instab[:, t] = _ar_step(
            i_prev,
            m_i,
            0.90,
            0.8 * (move_local[:, t] | move_between[:, t]) + 1.1 * sep + 0.7 * remarriage[:, t],
            rng.normal(0, 0.11, n_households),
        )
        care[:, t] = _ar_step(
            c_prev, m_c, 0.96, 0.8 * illness[:, t], rng.normal(0, 0.08, n_households)
        )
        e_prev, p_prev, i_prev, c_prev = econ[:, t], mental[:, t], instab[:, t], care[:, t]
    households["step_parent_by_end"] = step_parent
    progress.advance()

    # Movers only move while present; departures end presence (handled by exit months).
    move_local &= present
    move_between &= present
    municipality, residences = _residences(profile, households, move_local, move_between, rng)
    progress.advance()

    # ---- income, tax and relative poverty ------------------------------------------------------
    progress.start("children's months", 6)
    income = _income(profile, households, econ, present, children, rng)
    progress.advance()

    # ---- child-month quantities -------------------------------------------------------------
    birth_month = children["birth_month"].to_numpy()
    age_months = months[None, :] - birth_month[:, None]
    child_present = present[hh_of_child] & (age_months >= 0) & (age_months < 18 * 12)
    grade = school_grade(
        np.repeat(children["birth_date"].to_numpy()[:, None], n_months, 1),
        start,
        np.broadcast_to(months, (n_children, n_months)),
    )
    pupil = child_present & (grade >= 1) & (grade <= 9)
    junior_high = pupil & (grade >= 7)

    e_c, p_c, i_c, c_c = (
        econ[hh_of_child],
        mental[hh_of_child],
        instab[hh_of_child],
        care[hh_of_child],
    )

    # School disengagement: a child-level process fed by home strain and bullying shocks.
    u_child = rng.normal(0, 0.35, n_children)
    bully = rng.random((n_children, n_months)) < np.where(junior_high, 0.012, 0.007)
    disengagement = np.zeros((n_children, n_months))
    d_prev = u_child + rng.normal(0, 0.4, n_children)
    for t in range(n_months):
        mean_d = u_child + 0.35 * p_c[:, t] + 0.25 * i_c[:, t] + 0.15 * e_c[:, t]
        mean_d = mean_d + 0.5 * junior_high[:, t]
        disengagement[:, t] = _ar_step(
            d_prev, mean_d, 0.8, 3.0 * bully[:, t], rng.normal(0, 0.5, n_children)
        )
        d_prev = disengagement[:, t]
    progress.advance()

    cal_month = calendar_month(start, months)
    days = np.array([SCHOOL_DAYS[int(m)] for m in cal_month], dtype=float)
    fy = fiscal_year(start, months)

    truancy_intercepts = _calibrate_truancy(disengagement, pupil, junior_high, days, fy)
    intercept = np.where(junior_high, truancy_intercepts[1], truancy_intercepts[0])
    p_absent = expit(intercept + ABSENCE_SLOPE * disengagement)
    absence_other = rng.poisson(days[None, :] * p_absent) * pupil
    absence_other = np.minimum(absence_other, days[None, :].astype(int))
    illness_days = rng.poisson(days[None, :] * 0.018, (n_children, n_months)) * pupil
    total_absence = np.minimum(absence_other + illness_days, days[None, :].astype(int))
    illness_days = total_absence - absence_other
    late_days = rng.poisson(days[None, :] * expit(-4.0 + 0.7 * disengagement + 0.3 * c_c)) * pupil
    nurse_visits = rng.poisson(0.25 + 1.2 * expit(disengagement - 1.0 + 0.3 * p_c)) * pupil
    progress.advance()

    # ---- outcomes -----------------------------------------------------------------------------
    world = World(
        profile=profile,
        households=households,
        people=pd.DataFrame(),
        residences=residences,
        name_changes=pd.DataFrame(),
        econ=econ,
        mental=mental,
        instability=instab,
        care=care,
        partnered=partnered,
        present=present,
        municipality=municipality,
        income=income,
        public_assistance=np.zeros((n_households, n_months), dtype=bool),
        children=children,
        disengagement=disengagement,
        absence_days=total_absence.astype(np.int16),
        illness_days=illness_days.astype(np.int16),
        late_days=late_days.astype(np.int16),
        nurse_visits=nurse_visits.astype(np.int16),
        school_aid=np.zeros((n_children, n_months), dtype=bool),
        grade=grade.astype(np.int8),
    )
    world.events["job_loss"] = _event_frame(job_loss)
    world.events["separation"] = _event_frame(separation)
    world.events["remarriage"] = _event_frame(remarriage)
    world.events["illness"] = _event_frame(illness)
    world.events["move_local"] = _event_frame(move_local)
    world.events["move_between"] = _event_frame(move_between)

    risks: dict[str, np.ndarray] = {}
    onsets: list[pd.DataFrame] = []
    ctx = _ChildContext(
        child_present=child_present,
        age_months=age_months,
        pupil=pupil,
        junior_high=junior_high,
        e=e_c,
        p=p_c,
        i=i_c,
        c=c_c,
        hh=hh_of_child,
    )

    abuse_risk, abuse_onset = _abuse(world, ctx, rng)
    risks["abuse"], onsets = abuse_risk, [abuse_onset]
    progress.advance()
    risks["poverty"], poverty_onset = _poverty(world, ctx, rng)
    onsets.append(poverty_onset)
    risks["truancy"], truancy_onset = _truancy(world, ctx, absence_other, p_absent, days, fy, pupil)
    onsets.append(truancy_onset)
    progress.advance()
    risks["postpartum_depression"], ppd_onset = _postpartum(world, ctx, rng)
    onsets.append(ppd_onset)
    risks["young_carer"], risks[YOUNG_CARER_RECORDED], yc_onset = _young_carer(world, ctx, rng)
    onsets.append(yc_onset)
    progress.advance()

    world.onsets = pd.concat(onsets, ignore_index=True)
    world.true_risk = _risk_frame(children, ctx.child_present, risks)
    world.people, world.name_changes = _people_and_names(world, separation, remarriage, rng)
    return world


@dataclass
class _ChildContext:
    child_present: np.ndarray
    age_months: np.ndarray
    pupil: np.ndarray
    junior_high: np.ndarray
    e: np.ndarray
    p: np.ndarray
    i: np.ndarray
    c: np.ndarray
    hh: np.ndarray


def _event_frame(flags: np.ndarray) -> pd.DataFrame:
    rows, cols = np.nonzero(flags)
    return pd.DataFrame({"household_id": rows, "month": cols})


def _draw_households(
    profile: Profile, rng: np.random.Generator
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Households with children, trimmed so the last month holds about n_children aged 0-17."""
    n_months = profile.n_months
    target = profile.n_children
    n_draw = int(target * 0.95) + 200
    n_kids = rng.choice([1, 2, 3, 4], size=n_draw, p=[0.36, 0.45, 0.16, 0.03])
    mother_age_first = np.clip(rng.normal(30.5, 4.8, n_draw), 16.0, 45.0)
    span = 18 * 12 + 60
    first_birth = rng.integers(-span, n_months, n_draw)
    entry = np.where(rng.random(n_draw) < 0.07, rng.integers(1, n_months, n_draw), 0)
    leaves = rng.random(n_draw) < 0.06
    exit_ = np.where(leaves, rng.integers(np.minimum(entry + 1, n_months - 1), n_months), n_months)

    kid_household: list[np.ndarray] = []
    kid_birth: list[np.ndarray] = []
    kid_order: list[np.ndarray] = []
    births = first_birth.copy()
    for k in range(4):
        has = n_kids > k
        if k > 0:
            births = births + rng.integers(16, 54, n_draw)
        kid_household.append(np.nonzero(has)[0])
        kid_birth.append(births[has])
        kid_order.append(np.full(int(has.sum()), k + 1))
    hh_id = np.concatenate(kid_household)
    birth = np.concatenate(kid_birth)
    order = np.concatenate(kid_order)
    # Twins: about 1 % of births.
    twin = rng.random(len(hh_id)) < 0.01
    hh_id = np.concatenate([hh_id, hh_id[twin]])
    birth = np.concatenate([birth, birth[twin]])
    order = np.concatenate([order, order[twin]])
    # Twins share a birth date: draw the day once per twin group.
    group = np.concatenate([np.arange(len(twin)), np.nonzero(twin)[0]])
    day_of_group = rng.integers(1, 29, len(group))

    in_window = (birth < n_months) & (birth > -18 * 12)
    # Count children aged 0-17 and resident at the last month, household by household, in a random
    # order, and keep households until the target is reached.
    last = n_months - 1
    at_end = in_window & (last - birth < 18 * 12) & (last - birth >= 0) & (exit_[hh_id] > last)
    per_household = np.bincount(hh_id[at_end], minlength=n_draw)
    order_hh = rng.permutation(n_draw)
    cumulative = np.cumsum(per_household[order_hh])
    keep_n = min(int(np.searchsorted(cumulative, target)) + 1, n_draw)
    kept = np.sort(order_hh[:keep_n])
    new_id = np.full(n_draw, -1)
    new_id[kept] = np.arange(len(kept))

    child_mask = in_window & (new_id[hh_id] >= 0)
    children = pd.DataFrame(
        {
            "household_id": new_id[hh_id[child_mask]],
            "birth_month": birth[child_mask],
            "birth_order": order[child_mask],
        }
    )
    day = day_of_group[group[child_mask]]
    children["birth_date"] = month_start(profile.start, children["birth_month"].to_numpy()) + (
        day - 1
    ).astype("timedelta64[D]")
    children["sex"] = np.where(rng.random(len(children)) < 0.512, "M", "F")
    children["disability"] = rng.random(len(children)) < 0.015
    children = children.sort_values(["household_id", "birth_month"]).reset_index(drop=True)
    children["twin"] = children.duplicated(["household_id", "birth_date"], keep=False)
    children["low_birth_weight"] = rng.random(len(children)) < np.where(
        children["twin"].to_numpy(), 0.6, 0.08
    )
    children["child_index"] = np.arange(len(children))

    n_households = len(kept)
    first_birth_k = first_birth[kept]
    mother_age = mother_age_first[kept]
    households = pd.DataFrame(
        {
            "household_id": np.arange(n_households),
            "n_children": children.groupby("household_id")
            .size()
            .reindex(range(n_households))
            .fillna(0)
            .astype(int)
            .to_numpy(),
            "mother_birth_month": first_birth_k - np.round(mother_age * 12).astype(int),
            "young_mother": mother_age < 21,
            "entry_month": entry[kept],
            "exit_month": exit_[kept],
        }
    )
    young = households["young_mother"].to_numpy()
    households["foreign"] = rng.random(n_households) < 0.03
    households["single_at_start"] = rng.random(n_households) < np.where(young, 0.35, 0.085)
    households["mother_prior_mental"] = rng.random(n_households) < 0.07
    households["parent_disability"] = rng.random(n_households) < 0.03
    households["grandparent"] = rng.random(n_households) < 0.10
    onset = rng.integers(-60, n_months + 60, n_households)
    care_need = households["grandparent"].to_numpy() & (rng.random(n_households) < 0.5)
    households["grandparent_care_onset"] = np.where(care_need, onset, 10_000)
    households["home_municipality"] = rng.choice(
        len(profile.municipalities),
        size=n_households,
        p=[m.share for m in profile.municipalities],
    )
    return households, children


def _residences(
    profile: Profile,
    households: pd.DataFrame,
    move_local: np.ndarray,
    move_between: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, pd.DataFrame]:
    """Municipality per household-month and residence spells with an address index."""
    n_households, n_months = move_local.shape
    n_muni = len(profile.municipalities)
    municipality = np.zeros((n_households, n_months), dtype=np.int8)
    current = households["home_municipality"].to_numpy().copy()
    spell_start = households["entry_month"].to_numpy().copy()
    spells: list[tuple[int, int, int, int, str]] = []
    address = np.asarray(rng.integers(0, 1 << 30, n_households))
    for t in range(n_months):
        between = move_between[:, t]
        moved = between | move_local[:, t]
        if moved.any():
            for mover in np.nonzero(moved)[0]:
                spells.append(
                    (
                        int(mover),
                        int(current[mover]),
                        int(spell_start[mover]),
                        t,
                        str(address[mover]),
                    )
                )
            shift = rng.integers(1, n_muni, n_households)
            current = np.where(between, (current + shift) % n_muni, current)
            address = np.where(moved, rng.integers(0, 1 << 30, n_households), address)
            spell_start = np.where(moved, t, spell_start)
        municipality[:, t] = current
    exit_ = households["exit_month"].to_numpy()
    for h in range(n_households):
        if spell_start[h] < exit_[h]:
            spells.append((h, int(current[h]), int(spell_start[h]), int(exit_[h]), str(address[h])))
    residences = pd.DataFrame(
        spells, columns=["household_id", "municipality", "start_month", "end_month", "address_seed"]
    )
    residences["move_kind"] = "initial"
    residences = residences.sort_values(["household_id", "start_month"]).reset_index(drop=True)
    previous_muni = residences.groupby("household_id")["municipality"].shift()
    has_previous = previous_muni.notna()
    residences.loc[has_previous, "move_kind"] = np.where(
        previous_muni[has_previous] == residences.loc[has_previous, "municipality"],
        "local",
        "between",
    )
    entry = households["entry_month"].to_numpy()
    arrived = (
        ~has_previous
        & (residences["start_month"].to_numpy() > 0)
        & (residences["start_month"].to_numpy() == entry[residences["household_id"].to_numpy()])
    )
    residences.loc[arrived, "move_kind"] = "from_outside"
    return municipality, residences


def _income(
    profile: Profile,
    households: pd.DataFrame,
    econ: np.ndarray,
    present: np.ndarray,
    children: pd.DataFrame,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Equivalised yearly household income (10k yen) per fiscal year, and relative poverty.

    Relative poverty is income below half the median equivalised income of all children, the
    national survey's definition applied to our population.
    """
    months = np.arange(profile.n_months)
    fy = fiscal_year(profile.start, months)
    rows = []
    for year in np.unique(fy):
        in_year = fy == year
        mean_econ = econ[:, in_year].mean(axis=1)
        noise = rng.normal(0, 0.25, len(mean_econ))
        income = np.exp(np.log(290.0) - 0.42 * mean_econ + noise)
        rows.append(
            pd.DataFrame(
                {
                    "household_id": households["household_id"],
                    "fiscal_year": year,
                    "equivalised_income": income,
                }
            )
        )
    income_frame = pd.concat(rows, ignore_index=True)
    weights = income_frame["household_id"].map(children.groupby("household_id").size()).fillna(0)
    # A fixed poverty line (10k yen, equivalised): the income scale is set once so that the first
    # year's child poverty matches the national 11.5 %; later years move with the latent strain.
    first = income_frame["fiscal_year"] == income_frame["fiscal_year"].min()
    first_income = np.repeat(
        income_frame.loc[first, "equivalised_income"].to_numpy(),
        weights[first].astype(int).to_numpy(),
    )
    scale = POVERTY_LINE / float(np.quantile(first_income, TARGET_CHILD_POVERTY))
    income_frame["equivalised_income"] = (income_frame["equivalised_income"] * scale).round(1)
    income_frame["relative_poverty"] = income_frame["equivalised_income"] < POVERTY_LINE
    return income_frame


def _calibrate_truancy(
    disengagement: np.ndarray,
    pupil: np.ndarray,
    junior_high: np.ndarray,
    days: np.ndarray,
    fy: np.ndarray,
) -> tuple[float, float]:
    """Absence intercepts for elementary and junior-high pupils: the national 不登校 rates."""
    years = [y for y in np.unique(fy) if (fy == y).sum() == 12]
    intercepts = []
    for stage_jh, target in (
        (False, TARGET_TRUANCY_ELEMENTARY),
        (True, TARGET_TRUANCY_JUNIOR_HIGH),
    ):
        blocks = []
        for year in years:
            cols = np.nonzero(fy == year)[0]
            april = cols[0]
            rows = pupil[:, april] & (junior_high[:, april] == stage_jh)
            blocks.append((disengagement[np.ix_(rows, cols)], days[cols]))
        lo, hi = -12.0, 2.0
        for _ in range(40):
            mid = (lo + hi) / 2
            rates = [
                poisson.sf(29, (expit(mid + ABSENCE_SLOPE * d) * dd[None, :]).sum(axis=1)).mean()
                for d, dd in blocks
                if len(d)
            ]
            if float(np.mean(rates)) < target:
                lo = mid
            else:
                hi = mid
        intercepts.append((lo + hi) / 2)
    return intercepts[0], intercepts[1]


def _window_product(monthly: np.ndarray, horizon: int = HORIZON_MONTHS) -> np.ndarray:
    """1 - (1 - h)^H: the chance of at least one onset in H months at a frozen hazard h."""
    return 1.0 - np.power(1.0 - monthly, horizon)


def _as_of_state(values: np.ndarray) -> np.ndarray:
    """State known at the start of month T is the state of month T-1 (column T holds it)."""
    shifted = np.full(values.shape, np.nan)
    shifted[:, 1:] = values[:, :-1]
    return shifted


def _abuse(
    world: World, ctx: _ChildContext, rng: np.random.Generator
) -> tuple[np.ndarray, pd.DataFrame]:
    hh = world.households
    step_parent = (np.cumsum(_remarriage_matrix(world), axis=1) > 0) & world.partnered
    age = ctx.age_months
    linear = (
        0.9 * ctx.p
        + 0.6 * ctx.i
        + 0.45 * ctx.e
        + 1.1 * (age < 12)
        + 0.5 * ((age >= 12) & (age < 36))
        + 0.5 * hh["young_mother"].to_numpy()[ctx.hh][:, None]
        + 0.4 * world.children["disability"].to_numpy()[:, None]
        + 0.35 * step_parent[ctx.hh]
    )
    eligible = ctx.child_present
    intercept = _bisect_intercept(linear[eligible], TARGET_ABUSE_ANNUAL / 12)
    hazard = expit(intercept + linear)
    # Registrations for reasons other than substantiated abuse (養育困難 and the like).
    other_intercept = _bisect_intercept(linear[eligible], 0.35 * TARGET_ABUSE_ANNUAL / 12)
    other_hazard = expit(other_intercept + linear)
    consult_intercept = _bisect_intercept(0.7 * linear[eligible], 0.02 / 12)
    consult_hazard = expit(consult_intercept + 0.7 * linear)

    n_children, n_months = linear.shape
    registered_until = np.full(n_children, -1)
    # Children already registered when the history starts, in proportion to their risk.
    initial = eligible[:, 0] & (rng.random(n_children) < np.clip(hazard[:, 0] * 14, 0, 0.9))
    registered_until[initial] = rng.integers(1, 36, int(initial.sum()))
    registered = np.zeros((n_children, n_months), dtype=bool)
    reports, registrations, consultations = [], [], []
    for t in range(n_months):
        active = registered_until > t
        draw = rng.random(n_children)
        onset = eligible[:, t] & ~active & (draw < hazard[:, t])
        other = eligible[:, t] & ~active & ~onset & (draw > 1 - other_hazard[:, t])
        register = onset & (rng.random(n_children) < 0.55) | other
        duration = rng.geometric(1 / 30, n_children)
        registered_until = np.where(register, t + duration, registered_until)
        for child in np.nonzero(onset)[0]:
            reports.append((child, t))
        for child in np.nonzero(register)[0]:
            registrations.append((child, t, int(registered_until[child]), bool(onset[child])))
        consult = eligible[:, t] & ~onset & (rng.random(n_children) < consult_hazard[:, t])
        for child in np.nonzero(consult)[0]:
            consultations.append((child, t))
        registered[:, t] = registered_until > t
    world.support["abuse"] = registered
    for child in np.nonzero(initial)[0]:
        registrations.append(
            (
                child,
                -1 - int(rng.integers(0, 24)),
                int(registered_until[child]) if registered_until[child] < 36 else 36,
                False,
            )
        )
    world.events["abuse_report"] = pd.DataFrame(reports, columns=["child_index", "month"])
    world.events["abuse_report"]["kind"] = rng.choice(
        ["心理的虐待", "身体的虐待", "ネグレクト", "性的虐待"],
        size=len(reports),
        p=[0.60, 0.23, 0.16, 0.01],
    )
    world.events["registration"] = pd.DataFrame(
        registrations, columns=["child_index", "month", "end_month", "for_abuse"]
    )
    world.events["consultation"] = pd.DataFrame(consultations, columns=["child_index", "month"])
    risk = _window_product(_as_of_state(hazard))
    risk[~ctx.child_present] = np.nan
    onset_frame = world.events["abuse_report"][["child_index", "month"]].assign(hardship="abuse")
    return risk, onset_frame


def _remarriage_matrix(world: World) -> np.ndarray:
    flags = np.zeros(world.partnered.shape, dtype=bool)
    events = world.events["remarriage"]
    flags[events["household_id"].to_numpy(), events["month"].to_numpy()] = True
    return flags


def _poverty(
    world: World, ctx: _ChildContext, rng: np.random.Generator
) -> tuple[np.ndarray, pd.DataFrame]:
    """Entering 生活保護 (household, monthly) or 就学援助 (pupil, decided each May)."""
    profile = world.profile
    econ = world.econ
    n_households, n_months = econ.shape
    n_children = len(world.children)
    kids_per_hh = np.bincount(ctx.hh, minlength=n_households).astype(float)

    # 生活保護: entry hazard rises steeply with economic strain; exits are slow.
    exit_hazard = 0.025
    entry_target = (
        exit_hazard * TARGET_PUBLIC_ASSISTANCE_STOCK / (1 - TARGET_PUBLIC_ASSISTANCE_STOCK)
    )
    weights = np.repeat(kids_per_hh, n_months)
    flat = (PA_SLOPE * econ).ravel()
    sample = rng.choice(len(flat), size=min(len(flat), 400_000), p=weights / weights.sum())
    pa_intercept = _bisect_intercept(flat[sample], entry_target)
    pa_hazard = expit(pa_intercept + PA_SLOPE * econ)
    on_pa = np.zeros((n_households, n_months), dtype=bool)
    first_econ = econ[:, 0]
    threshold = np.quantile(
        np.repeat(first_econ, kids_per_hh.astype(int)), 1 - TARGET_PUBLIC_ASSISTANCE_STOCK
    )
    state = first_econ > threshold
    for t in range(n_months):
        if t > 0:
            enter = ~state & (rng.random(n_households) < pa_hazard[:, t])
            leave = state & (rng.random(n_households) < exit_hazard)
            state = (state | enter) & ~leave
        on_pa[:, t] = state & world.present[:, t]
    world.public_assistance = on_pa

    # 就学援助: each town certifies its own share of pupils from the strain it can see, in May.
    months = np.arange(n_months)
    cal = calendar_month(profile.start, months)
    aid = np.zeros((n_children, n_months), dtype=bool)
    muni_of_child = world.municipality[ctx.hh]
    rates = np.array([m.school_aid_rate for m in profile.municipalities])
    score = ctx.e + rng.normal(0, AID_SCORE_NOISE, ctx.e.shape)
    current = np.zeros(n_children, dtype=bool)
    thresholds: dict[int, np.ndarray] = {}
    for t in range(n_months):
        pupil_now = ctx.pupil[:, t]
        if cal[t] == 5 or t == 0:
            previous_year = current
            current = np.zeros(n_children, dtype=bool)
            thr = np.zeros(len(rates))
            for k, rate in enumerate(rates):
                rows = pupil_now & (muni_of_child[:, t] == k)
                if rows.any():
                    # Families already certified mostly re-apply; new ones often do not yet.
                    applies = rng.random(n_children) < np.where(
                        previous_year, AID_RENEWAL, AID_TAKE_UP
                    )
                    applicants = rows & applies
                    wanted = (rate - TARGET_PUBLIC_ASSISTANCE_STOCK) * rows.sum()
                    share = min(1.0, wanted / max(int(applicants.sum()), 1))
                    # A very small town may have no new applicant this year: nobody enters.
                    thr[k] = (
                        np.quantile(score[applicants, t], 1 - share) if applicants.any() else np.inf
                    )
                    current |= rows & (score[:, t] > thr[k]) & applies
            thresholds[t] = thr
        current = (current | on_pa[ctx.hh, t]) & pupil_now
        aid[:, t] = current
    world.school_aid = aid

    in_program = on_pa[ctx.hh] | aid
    in_program &= ctx.child_present
    # Onset: entering either programme with neither in the previous 12 months.
    previous = np.zeros_like(in_program)
    for lag in range(1, 13):
        previous[:, lag:] |= in_program[:, :-lag]
    onset = in_program & ~previous
    onset[:, 0] = False
    rows, cols = np.nonzero(onset)
    world.support["poverty"] = in_program

    # True risk at T from the state at T-1: 生活保護 entry, plus the next May's 就学援助 decision.
    state_econ = _as_of_state(ctx.e)
    pa_risk = _window_product(expit(pa_intercept + PA_SLOPE * state_econ))
    aid_risk = np.zeros_like(pa_risk)
    may_months = [t for t in thresholds if t > 0]
    for t_may in may_months:
        thr_child = thresholds[t_may][np.clip(muni_of_child[:, t_may], 0, len(rates) - 1)]
        for as_of in range(max(1, t_may - HORIZON_MONTHS + 1), t_may + 1):
            lag = t_may - (as_of - 1)
            sd = np.sqrt(AID_SCORE_NOISE**2 + lag * 0.13**2)
            p = AID_TAKE_UP * norm.sf((thr_child - state_econ[:, as_of]) / sd)
            p = p * ctx.pupil[:, t_may]
            aid_risk[:, as_of] = 1 - (1 - aid_risk[:, as_of]) * (1 - p)
    risk = 1 - (1 - pa_risk) * (1 - aid_risk)
    risk[~ctx.child_present] = np.nan
    frame = pd.DataFrame({"child_index": rows, "month": cols, "hardship": "poverty"})
    return risk, frame


def _truancy(
    world: World,
    ctx: _ChildContext,
    absence_other: np.ndarray,
    p_absent: np.ndarray,
    days: np.ndarray,
    fy: np.ndarray,
    pupil: np.ndarray,
) -> tuple[np.ndarray, pd.DataFrame]:
    """不登校: 30 or more non-illness absence days in a school year, read off the series."""
    n_children, n_months = absence_other.shape
    cumulative = np.zeros_like(absence_other)
    onset = np.zeros((n_children, n_months), dtype=bool)
    for year in np.unique(fy):
        cols = np.nonzero(fy == year)[0]
        cum = np.cumsum(absence_other[:, cols], axis=1)
        cumulative[:, cols] = cum
        crossed = cum >= 30
        first = crossed & ~np.concatenate([np.zeros((n_children, 1), bool), crossed[:, :-1]], 1)
        onset[:, cols] = first
    rows, cols_ = np.nonzero(onset)
    support = np.zeros_like(onset)
    for year in np.unique(fy):
        cols = np.nonzero(fy == year)[0]
        support[:, cols] = cumulative[:, cols] >= 30
    world.support["truancy"] = support

    # True risk at T: frozen absence propensity of month T-1, Poisson sums over the window.
    risk = np.full((n_children, n_months), np.nan)
    for as_of in range(1, n_months):
        window = list(range(as_of, min(as_of + HORIZON_MONTHS, n_months)))
        if len(window) < HORIZON_MONTHS:
            break
        prev = as_of - 1
        p_frozen = p_absent[:, prev]
        cum_before = np.where(fy[prev] == fy[as_of], cumulative[:, prev], 0)
        same_year = [w for w in window if fy[w] == fy[as_of]]
        next_year = [w for w in window if fy[w] != fy[as_of]]
        lam_same = sum(days[w] * p_frozen * pupil[:, w] for w in same_year) if same_year else 0
        need = np.maximum(30 - cum_before, 0)
        p1 = np.where(cum_before >= 30, 0.0, poisson.sf(need - 1, np.asarray(lam_same) + 1e-12))
        if next_year:
            lam_next = sum(days[w] * p_frozen * pupil[:, w] for w in next_year)
            p2 = poisson.sf(29, np.asarray(lam_next) + 1e-12)
        else:
            p2 = 0.0
        value = 1 - (1 - p1) * (1 - p2)
        applicable = np.any(pupil[:, window], axis=1) & ctx.child_present[:, as_of]
        risk[:, as_of] = np.where(applicable, value, np.nan)
    frame = pd.DataFrame({"child_index": rows, "month": cols_, "hardship": "truancy"})
    return risk, frame


def _postpartum(
    world: World, ctx: _ChildContext, rng: np.random.Generator
) -> tuple[np.ndarray, pd.DataFrame]:
    """EPDS 9+ at any of three postnatal screenings (1 month, home visit, 3-4 month checkup)."""
    children = world.children
    hh = world.households
    n_children, n_months = ctx.age_months.shape
    birth = children["birth_month"].to_numpy()
    born_in = np.nonzero((birth >= 0) & (birth < n_months))[0]
    h = ctx.hh[born_in]
    b = birth[born_in]
    first_birth = (children["birth_order"].to_numpy()[born_in] == 1).astype(float)
    single = (~world.partnered[h, b]).astype(float)
    z = (
        1.0 * world.mental[h, b]
        + 0.55 * first_birth
        + 0.35 * hh["young_mother"].to_numpy()[h]
        + 0.3 * single
        + 0.25 * hh["foreign"].to_numpy()[h]
    )
    # Twins share a mother: one draw per household-birth.
    slope, noise_sd = 2.0, 3.0
    noise = rng.normal(0, noise_sd, (len(born_in), 3))
    best = (slope * z)[:, None] + noise
    offset = 8.5 - float(np.quantile(best.max(axis=1), 1 - TARGET_EPDS_POSITIVE))
    scores = np.clip(np.round(offset + best), 0, 30).astype(int)
    screen_month = np.stack([b + 1, b + rng.integers(2, 4, len(b)), b + 4], axis=1)
    positive = scores >= EPDS_CUTOFF
    first_pos = np.where(positive.any(axis=1), positive.argmax(axis=1), -1)
    onset_month = np.where(
        first_pos >= 0, screen_month[np.arange(len(b)), np.maximum(first_pos, 0)], -1
    )
    world.events["epds"] = pd.DataFrame(
        {
            "child_index": np.repeat(born_in, 3),
            "month": screen_month.ravel(),
            "score": scores.ravel(),
            "screening": np.tile([1, 2, 3], len(born_in)),
        }
    )
    world.events["epds"] = world.events["epds"][world.events["epds"]["month"] < n_months]
    has_onset = (onset_month >= 0) & (onset_month < n_months)
    frame = pd.DataFrame(
        {
            "child_index": born_in[has_onset],
            "month": onset_month[has_onset],
            "hardship": "postpartum_depression",
        }
    )
    support = np.zeros((n_children, n_months), dtype=bool)
    for child, month in zip(born_in[has_onset], onset_month[has_onset], strict=True):
        support[child, month:] = True
    world.support["postpartum_depression"] = support

    risk = np.full((n_children, n_months), np.nan)
    p_each = norm.sf((8.5 - offset - slope * z)[:, None] / noise_sd) * np.ones((1, 3))
    for as_of in range(1, n_months - HORIZON_MONTHS + 1):
        alive = (b < as_of) & (as_of <= screen_month[:, 2])
        if not alive.any():
            continue
        already = (onset_month >= 0) & (onset_month < as_of)
        in_window = (screen_month >= as_of) & (screen_month < as_of + HORIZON_MONTHS)
        value = 1 - np.prod(np.where(in_window, 1 - p_each, 1.0), axis=1)
        value = np.where(already, 0.0, value)
        rows = born_in[alive]
        risk[rows, as_of] = value[alive]
    risk[~ctx.child_present] = np.nan
    return risk, frame


def _young_carer(
    world: World, ctx: _ChildContext, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """Caring for a sibling, parent or grandparent; identified later by survey or case work.

    Two true risks: of starting to care (the hardship's onset), and of starting a spell that
    the records will show (the event labels are made of).
    """
    n_children, n_months = ctx.age_months.shape
    hh = world.households
    age = ctx.age_months
    young = ctx.child_present & (age < 72)
    young_per_hh = np.zeros(world.econ.shape)
    np.add.at(young_per_hh, ctx.hh, young.astype(float))
    young_siblings = young_per_hh[ctx.hh]
    single = ~world.partnered[ctx.hh]
    linear = 1.7 * ctx.c + 0.45 * single + 0.3 * young_siblings + 0.25 * ctx.p + 0.2 * (age >= 144)
    eligible = ctx.child_present & (age >= 96)
    exit_hazard = 0.02
    target = exit_hazard * TARGET_YOUNG_CARER_STOCK / (1 - TARGET_YOUNG_CARER_STOCK)
    intercept = _bisect_intercept(linear[eligible], target)
    hazard = expit(intercept + linear)
    caring = np.zeros((n_children, n_months), dtype=bool)
    state = eligible[:, 0] & (rng.random(n_children) < hazard[:, 0] / (hazard[:, 0] + exit_hazard))
    onsets = []
    for t in range(n_months):
        if t > 0:
            start = eligible[:, t] & ~state & (rng.random(n_children) < hazard[:, t])
            stop = state & (rng.random(n_children) < exit_hazard)
            for child in np.nonzero(start)[0]:
                onsets.append((child, t))
            state = (state | start) & ~stop
        state &= eligible[:, t]
        caring[:, t] = state
    world.support["young_carer_true"] = caring
    # Identification: a July school survey (grades 4-9) or case work, often months after onset.
    months = np.arange(n_months)
    july = calendar_month(world.profile.start, months) == 7
    survey_grade = (world.grade >= 4) & (world.grade <= 9)
    found = caring & (
        (july[None, :] & survey_grade & (rng.random(caring.shape) < SURVEY_FINDS))
        | (rng.random(caring.shape) < CASE_WORK_FINDS)
    )
    identified = np.zeros_like(caring)
    known = np.zeros(n_children, dtype=bool)
    ident_rows = []
    for t in range(n_months):
        known &= caring[:, t]
        new_found = found[:, t] & ~known
        route = np.where(july[t] & survey_grade[:, t], "調査", "ケース")
        for child in np.nonzero(new_found)[0]:
            ident_rows.append((child, t, str(route[child])))
        known |= new_found
        identified[:, t] = known
    world.support["young_carer"] = identified
    world.events["young_carer_identified"] = pd.DataFrame(
        ident_rows, columns=["child_index", "month", "route"]
    )
    frame = pd.DataFrame(onsets, columns=["child_index", "month"]).assign(hardship="young_carer")
    # Who is cared for, by which driver dominates the household's burden.
    care_onset = hh["grandparent_care_onset"].to_numpy()[ctx.hh[frame["child_index"].to_numpy()]]
    recipient = np.where(care_onset <= frame["month"].to_numpy(), "祖父母", "きょうだい")
    parent_driver = hh["parent_disability"].to_numpy()[ctx.hh[frame["child_index"].to_numpy()]]
    frame["cared_for"] = np.where(parent_driver, "親", recipient)
    risk = _window_product(_as_of_state(hazard))
    risk[~eligible] = np.nan
    finds = 1 - (1 - SURVEY_FINDS * (july[None, :] & survey_grade)) * (1 - CASE_WORK_FINDS)
    recorded = _recorded_onset_risk(hazard, eligible, identified, finds, exit_hazard)
    recorded[~eligible] = np.nan
    return risk, recorded, frame


def _recorded_onset_risk(
    hazard: np.ndarray,
    eligible: np.ndarray,
    identified: np.ndarray,
    finds: np.ndarray,
    exit_hazard: float,
) -> np.ndarray:
    """Chance that a caring spell starts in [T, T + horizon) and is identified before the
    records end, as known at the start of T: what a young-carer label counts (its onset is the
    開始時期 written at identification, so a spell nobody identifies is never a label).

    Known as the other hardships' risks are: from the hidden drivers (the hazard of starting to
    care, held at its T-1 value through the window as theirs are) and what the records show
    (whether the child is identified), not from whether an unidentified child is caring
    already; knowing that would be knowing the hardship, not its risk. So the chance that an
    unidentified child is caring is filtered month by month through the simulation's own steps
    (start at the month's hazard, stop at the exit hazard, no caring while not eligible, not
    found by that month's survey or case work). A spell starting in month s is identified
    before the end with the chance `spotted[s]`: found that month, or still caring and found
    later. Two spells of one child within a window are rare (the exit hazard is 2 % a month),
    so their chances are added.
    """
    n_children, n_months = hazard.shape
    # Chances of caring unidentified, given the history up to each month and no identification:
    # in a spell begun within the history (`spell`), or in one under way when it starts
    # (`stock`), whose record carries no start month, so its identification month is its onset.
    spell = np.zeros((n_children, n_months))
    stock = np.zeros((n_children, n_months))
    first = np.where(eligible[:, 0], hazard[:, 0] / (hazard[:, 0] + exit_hazard), 0.0)
    stock[:, 0] = np.where(
        identified[:, 0], 0.0, first * (1 - finds[:, 0]) / (1 - first * finds[:, 0])
    )
    for t in range(1, n_months):
        starting = np.where(eligible[:, t], hazard[:, t], 0.0)
        # Identified last month but not now: the child stopped caring this month, and a month
        # holds a stop or a start, never both.
        open_ = eligible[:, t] & ~identified[:, t - 1]
        idle = 1 - spell[:, t - 1] - stock[:, t - 1]
        prior_spell = np.where(open_, idle * starting + spell[:, t - 1] * (1 - exit_hazard), 0.0)
        prior_stock = np.where(open_, stock[:, t - 1] * (1 - exit_hazard), 0.0)
        missed = 1 - (prior_spell + prior_stock) * finds[:, t]
        unseen = np.where(identified[:, t], 0.0, (1 - finds[:, t]) / missed)
        spell[:, t] = prior_spell * unseen
        stock[:, t] = prior_stock * unseen
    spotted = np.zeros((n_children, n_months))
    spotted[:, -1] = finds[:, -1]
    for t in range(n_months - 2, -1, -1):
        goes_on = np.where(eligible[:, t + 1], (1 - exit_hazard) * spotted[:, t + 1], 0.0)
        spotted[:, t] = finds[:, t] + (1 - finds[:, t]) * goes_on
    risk = np.full((n_children, n_months), np.nan)
    for as_of in range(1, n_months - HORIZON_MONTHS + 1):
        last = as_of - 1
        start = hazard[:, last]
        known = identified[:, last].astype(float)
        unknown_stock = (1 - known) * stock[:, last]
        caring = known + (1 - known) * spell[:, last] + unknown_stock
        chance = np.zeros(n_children)
        for t in range(as_of, as_of + HORIZON_MONTHS):
            allowed = eligible[:, t]
            starting = np.where(allowed, start, 0.0)
            chance += (1 - caring) * starting * spotted[:, t]
            unknown_stock = np.where(allowed, unknown_stock * (1 - exit_hazard), 0.0)
            chance += unknown_stock * finds[:, t]
            unknown_stock = unknown_stock * (1 - finds[:, t])
            caring = np.where(allowed, caring * (1 - exit_hazard) + (1 - caring) * starting, 0.0)
        risk[:, as_of] = np.minimum(chance, 1.0)
    return risk


def _risk_frame(
    children: pd.DataFrame, child_present: np.ndarray, risks: dict[str, np.ndarray]
) -> pd.DataFrame:
    """Long table (child, as-of month) with each hardship's true 6-month risk (NaN: not scored)."""
    n_months = child_present.shape[1]
    as_of = np.arange(1, n_months - HORIZON_MONTHS + 1)
    mask = child_present[:, as_of]
    rows, cols = np.nonzero(mask)
    frame = pd.DataFrame(
        {"child_index": rows.astype(np.int32), "month": as_of[cols].astype(np.int16)}
    )
    for name in risks:
        frame[name] = risks[name][rows, as_of[cols]].astype(np.float32)
    return frame


# Foreign-national households are registered under their own names, often in katakana.
FOREIGN_SURNAMES = (
    ("グエン", "グエン"),
    ("チャン", "チャン"),
    ("サントス", "サントス"),
    ("シルバ", "シルバ"),
    ("ガルシア", "ガルシア"),
    ("レイエス", "レイエス"),
    ("金", "キム"),
    ("李", "リ"),
    ("王", "ワン"),
    ("朴", "パク"),
)
FOREIGN_GIVEN = (
    ("アン", "アン"),
    ("ミン", "ミン"),
    ("マリア", "マリア"),
    ("ジョン", "ジョン"),
    ("ルーカス", "ルーカス"),
    ("アナ", "アナ"),
    ("ハオ", "ハオ"),
    ("リン", "リン"),
)


def _people_and_names(
    world: World, separation: np.ndarray, remarriage: np.ndarray, rng: np.random.Generator
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Everyone in the households, with true names, and the surname changes that happen."""
    from synthetic.names import load_name_tables, sample_given_names, sample_surnames

    tables = load_name_tables()
    hh = world.households
    children = world.children
    n_households = len(hh)
    profile = world.profile

    family_kanji, family_kana = sample_surnames(tables, rng, n_households)
    maiden_kanji, maiden_kana = sample_surnames(tables, rng, n_households)
    partner_kanji, partner_kana = sample_surnames(tables, rng, n_households)
    foreign = hh["foreign"].to_numpy()
    pick = rng.integers(0, len(FOREIGN_SURNAMES), n_households)
    for household_index in np.nonzero(foreign)[0]:
        kanji, kana = FOREIGN_SURNAMES[pick[household_index]]
        family_kanji[household_index], family_kana[household_index] = kanji, kana
        maiden_kanji[household_index], maiden_kana[household_index] = kanji, kana
    single_start = hh["single_at_start"].to_numpy()

    frames = []
    # Children.
    kid_hh = children["household_id"].to_numpy()
    kid_given, kid_given_kana = sample_given_names(tables, rng, children["sex"].to_numpy())
    twins = children["twin"].to_numpy()
    # Twins get distinct given names by construction of an independent draw; make sure.
    frames.append(
        pd.DataFrame(
            {
                "household_id": kid_hh,
                "role": "child",
                "sex": children["sex"].to_numpy(),
                "birth_date": children["birth_date"].to_numpy(),
                "surname": family_kanji[kid_hh],
                "surname_kana": family_kana[kid_hh],
                "given_name": kid_given,
                "given_name_kana": kid_given_kana,
                "child_index": children["child_index"].to_numpy(),
                "joined_month": children["birth_month"].clip(lower=-1).to_numpy(),
                "left_month": profile.n_months,
                "twin": twins,
            }
        )
    )
    # Mothers.
    mother_given, mother_given_kana = sample_given_names(tables, rng, np.full(n_households, "F"))
    mother_birth_month = hh["mother_birth_month"].to_numpy()
    mother_birth = month_start(profile.start, mother_birth_month) + rng.integers(
        0, 28, n_households
    ).astype("timedelta64[D]")
    frames.append(
        pd.DataFrame(
            {
                "household_id": np.arange(n_households),
                "role": "mother",
                "sex": "F",
                "birth_date": mother_birth,
                "surname": np.where(single_start, maiden_kanji, family_kanji),
                "surname_kana": np.where(single_start, maiden_kana, family_kana),
                "given_name": mother_given,
                "given_name_kana": mother_given_kana,
                "child_index": -1,
                "joined_month": -1,
                "left_month": profile.n_months,
                "twin": False,
            }
        )
    )
    # Fathers, present until a separation.
    sep_month = np.full(n_households, profile.n_months)
    events = world.events["separation"]
    first_sep = events.groupby("household_id")["month"].min()
    sep_month[first_sep.index.to_numpy()] = first_sep.to_numpy()
    fathers = np.nonzero(~single_start)[0]
    father_given, father_given_kana = sample_given_names(tables, rng, np.full(len(fathers), "M"))
    father_birth = mother_birth[fathers] - rng.integers(-700, 2500, len(fathers)).astype(
        "timedelta64[D]"
    )
    frames.append(
        pd.DataFrame(
            {
                "household_id": fathers,
                "role": "father",
                "sex": "M",
                "birth_date": father_birth,
                "surname": family_kanji[fathers],
                "surname_kana": family_kana[fathers],
                "given_name": father_given,
                "given_name_kana": father_given_kana,
                "child_index": -1,
                "joined_month": -1,
                "left_month": sep_month[fathers],
                "twin": False,
            }
        )
    )
    # Partners who join at a remarriage.
    remar = world.events["remarriage"].drop_duplicates("household_id")
    rh = remar["household_id"].to_numpy()
    partner_given, partner_given_kana = sample_given_names(tables, rng, np.full(len(rh), "M"))
    frames.append(
        pd.DataFrame(
            {
                "household_id": rh,
                "role": "partner",
                "sex": "M",
                "birth_date": mother_birth[rh]
                - rng.integers(-1500, 3000, len(rh)).astype("timedelta64[D]"),
                "surname": partner_kanji[rh],
                "surname_kana": partner_kana[rh],
                "given_name": partner_given,
                "given_name_kana": partner_given_kana,
                "child_index": -1,
                "joined_month": remar["month"].to_numpy(),
                "left_month": profile.n_months,
                "twin": False,
            }
        )
    )
    # Grandparents living with the family.
    gp = np.nonzero(hh["grandparent"].to_numpy())[0]
    gp_sex = np.where(rng.random(len(gp)) < 0.7, "F", "M")
    gp_given, gp_given_kana = sample_given_names(tables, rng, gp_sex)
    frames.append(
        pd.DataFrame(
            {
                "household_id": gp,
                "role": "grandparent",
                "sex": gp_sex,
                "birth_date": mother_birth[gp]
                - rng.integers(20 * 365, 35 * 365, len(gp)).astype("timedelta64[D]"),
                "surname": family_kanji[gp],
                "surname_kana": family_kana[gp],
                "given_name": gp_given,
                "given_name_kana": gp_given_kana,
                "child_index": -1,
                "joined_month": -1,
                "left_month": profile.n_months,
                "twin": False,
            }
        )
    )
    people = pd.concat(frames, ignore_index=True)
    people["birth_date"] = people["birth_date"].astype("datetime64[s]")
    people["foreign"] = foreign[people["household_id"].to_numpy()]
    people.insert(0, "person_id", [f"P{i:08d}" for i in range(len(people))])

    # Surname changes: after a separation the mother often returns to her maiden name and the
    # children follow (子の氏の変更); at a remarriage they may take the new partner's name.
    changes = []
    role = people["role"].to_numpy()
    household = people["household_id"].to_numpy()
    joined = people["joined_month"].to_numpy()
    by_household: dict[int, list[int]] = {}
    for position in np.nonzero((role == "child") | (role == "mother"))[0]:
        by_household.setdefault(int(household[position]), []).append(int(position))
    for household_id, month in zip(events["household_id"], events["month"], strict=True):
        h = int(household_id)
        if foreign[h] or rng.random() > 0.6:
            continue
        for idx in by_household.get(int(h), []):
            if joined[idx] > month:
                continue
            if role[idx] == "child" and rng.random() > 0.75:
                continue
            changes.append((idx, int(month) + 1, maiden_kanji[h], maiden_kana[h], "離婚"))
    for household_id, month in zip(remar["household_id"], remar["month"], strict=True):
        h = int(household_id)
        if foreign[h]:
            continue
        for idx in by_household.get(int(h), []):
            if joined[idx] > month:
                continue
            if role[idx] == "child" and rng.random() > 0.6:
                continue
            changes.append(
                (idx, int(month) + 1, partner_kanji[h], partner_kana[h], "婚姻・養子縁組")
            )
    name_changes = pd.DataFrame(
        changes, columns=["person_index", "month", "surname", "surname_kana", "reason"]
    )
    name_changes = name_changes[name_changes["month"] < profile.n_months]
    name_changes.insert(
        0, "person_id", people["person_id"].to_numpy()[name_changes["person_index"]]
    )
    return people, name_changes.drop(columns=["person_index"]).reset_index(drop=True)
