"""A fabricated training frame with real structure, for fast tests of the training pipeline.

Households (one to four children, some single-parent, some foreign) live in four municipalities
of different sizes; a few move between municipalities and a few children move to another
household, so household groups span municipalities. Latent household states (economic strain,
parental mental health, instability, care burden) and a child's school trouble drift month by
month; they drive both noisy recorded signals (the features, known before the as-of month) and
monthly onset hazards per hardship. `true_risk_<h>` is the risk the current latent state
implies for the label window: the oracle a model can approach but not reach.

One municipality does not hold EPDS data and one does not record nurse visits, as in real
extracts, so those features are missing there.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

HARDSHIPS = ("abuse", "poverty", "truancy", "postpartum_depression", "young_carer")
MUNICIPALITIES = {"131016": 0.45, "141003": 0.30, "221309": 0.15, "402028": 0.10}
NO_EPDS = "221309"
NO_NURSE_VISITS = "402028"
ELIGIBLE_AGE = {
    "abuse": (0, 216),
    "poverty": (0, 216),
    "truancy": (72, 192),
    "postpartum_depression": (0, 12),
    "young_carer": (96, 216),
}


def _ar1(rng: np.random.Generator, n: int, months: int, phi: float, mean: np.ndarray) -> np.ndarray:
    sigma = np.sqrt(1 - phi**2)
    out = np.empty((n, months + 1))
    out[:, 0] = mean + rng.normal(size=n)
    for t in range(1, months + 1):
        out[:, t] = mean + phi * (out[:, t - 1] - mean) + sigma * rng.normal(size=n)
    return out


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def fabricate_frame(
    *,
    households: int = 1500,
    months: int = 60,
    start: str = "2021-04",
    horizon: int = 6,
    seed: int = 7,
    dominant_feature: str | None = None,
) -> pd.DataFrame:
    """The frame (contract columns, features, labels, support flags and true_risk_<h>).

    `dominant_feature`: a hardship whose upcoming onset leaks into a feature called
    `leaky_signal` (for testing the over-influence audit).
    """
    rng = np.random.default_rng(seed)
    h = households
    towns = np.array(list(MUNICIPALITIES))
    town = rng.choice(len(towns), size=h, p=list(MUNICIPALITIES.values()))
    move_at = np.where(rng.random(h) < 0.05, rng.integers(1, months, size=h), months + 1)
    new_town = (town + rng.integers(1, len(towns), size=h)) % len(towns)
    single = rng.random(h) < 0.15
    foreign = rng.random(h) < 0.04
    # Latent household states; index t holds the state during month t (t = 0 is the month
    # before the first as-of month), so a feature at as-of t reads state t and the hazard of
    # month t reads state t + 1.
    strain = _ar1(rng, h, months, 0.96, 0.8 * single - 0.1)
    mental = _ar1(rng, h, months, 0.95, 0.3 * single)
    unstable = _ar1(rng, h, months, 0.93, np.zeros(h))
    care = _ar1(rng, h, months, 0.97, np.zeros(h))

    kids_per_home = rng.choice([1, 2, 3, 4], size=h, p=[0.45, 0.35, 0.15, 0.05])
    home = np.repeat(np.arange(h), kids_per_home)
    c = len(home)
    # Ages: most children born before the window, a quarter during it (newborns for 産後うつ).
    born = np.where(
        rng.random(c) < 0.25,
        rng.integers(-12, months, size=c),
        rng.integers(-215, 1, size=c),
    )
    sex = rng.choice(np.array(["F", "M"]), size=c)
    school_trouble = _ar1(rng, c, months, 0.92, np.zeros(c))
    private_school = rng.random(c) < 0.08
    switch_at = np.where(rng.random(c) < 0.03, rng.integers(1, months, size=c), months + 1)
    second_home = rng.integers(0, h, size=c)

    t = np.arange(months)
    age = t[None, :] - born[:, None]  # age in months at each as-of month
    present = (age >= 0) & (age < 216)
    s, m, u, k = (x[home] for x in (strain, mental, unstable, care))
    z = school_trouble
    siblings = kids_per_home[home][:, None]
    lone = single[home][:, None]

    def hazard(name: str, at: slice) -> np.ndarray:
        logit = {
            "abuse": -5.6 + 0.6 * s[:, at] + 0.8 * u[:, at] + 0.6 * m[:, at] + 0.8 * (age < 12),
            "poverty": -5.3 + 1.3 * s[:, at] + 0.3 * u[:, at],
            "truancy": -5.4 + 1.2 * z[:, at] + 0.5 * m[:, at] + 0.7 * (age >= 144),
            "postpartum_depression": -3.7 + 1.1 * m[:, at] + 0.5 * lone,
            "young_carer": -5.8 + 1.2 * k[:, at] + 0.6 * lone + 0.15 * siblings,
        }[name]
        return _sigmoid(logit)

    columns: dict[str, np.ndarray] = {}
    onset = {}
    for name in HARDSHIPS:
        low, high = ELIGIBLE_AGE[name]
        eligible = (age >= low) & (age < high)
        monthly = hazard(name, slice(1, months + 1))
        event = (rng.random((c, months)) < monthly) & eligible
        first = np.where(event.any(axis=1), event.argmax(axis=1), months + 10)
        onset[name] = first
        window = (first[:, None] >= t[None, :]) & (first[:, None] < t[None, :] + horizon)
        observed = (t + horizon - 1 <= months - 1)[None, :]
        label = np.where(eligible & observed, window.astype(float), np.nan)
        columns[f"label_{name}"] = label
        columns[f"already_supported_{name}"] = first[:, None] < t[None, :]
        risk_now = hazard(name, slice(0, months))
        columns[f"true_risk_{name}"] = np.where(
            eligible & observed, 1.0 - (1.0 - risk_now) ** horizon, np.nan
        )

    # Features from the state of the month before the as-of month (known before it begins).
    def noisy_count(rate: np.ndarray) -> np.ndarray:
        return rng.poisson(np.clip(rate, 0, 50)).astype(float)

    school_age = (age >= 72) & (age < 192)
    at = slice(0, months)
    home_now = np.where(t[None, :] >= switch_at[:, None], second_home[:, None], home[:, None])
    town_of_home = np.where(t[None, :] >= move_at[:, None], new_town[:, None], town[:, None])
    town_now = town_of_home[home_now, t[None, :]]
    municipality = towns[town_now]
    epds = np.clip(np.round(5 + 3 * m[:, at] + rng.normal(0, 2, (c, months))), 0, 30)
    epds = np.where((age < 12) & (municipality != NO_EPDS), epds, np.nan)
    nurse = noisy_count(np.exp(-0.5 + 0.6 * z[:, at] + 0.4 * m[:, at]))
    nurse = np.where(school_age & (municipality != NO_NURSE_VISITS), nurse, np.nan)
    features = {
        "age_months": age.astype(float),
        "school_stage": np.select([age < 72, age < 144, age < 192], [0, 1, 2], 3).astype(float),
        "single_parent": np.where(rng.random((c, months)) < 0.02, np.nan, single[home][:, None])
        * np.ones(months),
        "siblings": (kids_per_home[home] - 1)[:, None] * np.ones(months),
        "household_income_bracket": np.clip(
            np.round(3 - s[:, at] + rng.normal(0, 0.7, (c, months))), 0, 6
        ),
        "household_tax_exempt": (s[:, at] + rng.normal(0, 0.5, (c, months)) > 1.2).astype(float),
        "household_arrears_months_12m": np.minimum(noisy_count(np.exp(-1.0 + 0.8 * s[:, at])), 12),
        "moves_12m": noisy_count(np.exp(-2.5 + 0.8 * u[:, at])),
        "consultations_12m": noisy_count(np.exp(-3.0 + 0.8 * u[:, at] + 0.6 * m[:, at])),
        "absence_days_3m": np.where(
            school_age, noisy_count(np.exp(0.5 + 0.9 * z[:, at] + 0.2 * m[:, at])), np.nan
        ),
        "nurse_visits_3m": nurse,
        "late_days_3m": np.where(
            school_age, noisy_count(np.exp(-0.5 + 0.6 * k[:, at] + 0.3 * z[:, at])), np.nan
        ),
        "household_care_need_members": noisy_count(np.exp(-2.0 + 1.0 * k[:, at])),
        "mother_epds_latest": epds,
        "missing_epds": (municipality == NO_EPDS).astype(float),
        "infant_checkups_missed": np.where(
            age < 36, noisy_count(np.exp(-2.5 + 0.7 * u[:, at])), np.nan
        ),
        "noise_a": rng.normal(size=(c, months)),
        "noise_b": rng.normal(size=(c, months)),
    }
    if dominant_feature is not None:
        label = np.nan_to_num(columns[f"label_{dominant_feature}"])
        features["leaky_signal"] = label * (rng.random((c, months)) < 0.9) + 0.05 * rng.normal(
            size=(c, months)
        )

    rows = present
    person = np.array([f"P{i:06d}" for i in range(c)])
    frame = pd.DataFrame(
        {
            "person_id": np.broadcast_to(person[:, None], (c, months))[rows],
            "as_of_month": np.broadcast_to(
                pd.period_range(start, periods=months, freq="M").astype(str).to_numpy()[None, :],
                (c, months),
            )[rows],
            "municipality": municipality[rows],
            "household_id": np.char.add("H", home_now.astype(str))[rows],
            "sex": np.broadcast_to(sex[:, None], (c, months))[rows],
            "foreign": np.broadcast_to(foreign[home][:, None].astype(float), (c, months))[rows],
        }
    )
    for name, values in features.items():
        frame[name] = values[rows]
    frame["school_type"] = np.where(
        school_age, np.where(private_school[:, None], "private", "public"), "none"
    )[rows]
    for name, values in columns.items():
        frame[name] = values[rows]
    return frame.sort_values(["as_of_month", "person_id"], ignore_index=True)


def true_risk_of(frame: pd.DataFrame) -> pd.DataFrame:
    """The ground-truth part, separate from what training may read (as the real caller does)."""
    risk = [c for c in frame.columns if c.startswith("true_risk_")]
    return frame[["person_id", "as_of_month", *risk]].copy()


def training_part(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=[c for c in frame.columns if c.startswith("true_risk_")])
