"""Measured rates and the oracle's ranking power, computed from a simulated world.

These are the numbers the calibration tests assert against national statistics (domain.md), and the
realism check: the true risk must rank children well but far from perfectly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from synthetic.calendar import calendar_month, fiscal_year
from synthetic.world import HARDSHIPS, HORIZON_MONTHS, World


@dataclass(frozen=True)
class Target:
    name: str
    value: float
    tolerance: float
    source: str


# What each generated rate should be, with the tolerance the tests allow and the survey behind it.
TARGETS = (
    Target("child_relative_poverty", 0.115, 0.025, "国民生活基礎調査 2022"),
    Target("single_parent_poverty", 0.445, 0.15, "国民生活基礎調査 2022"),
    Target("school_aid_pupils", 0.137, 0.035, "文部科学省 就学援助実施状況 FY2023"),
    Target("public_assistance_children", 0.013, 0.006, "被保護者全国一斉調査"),
    Target("truancy_elementary", 0.023, 0.008, "問題行動・不登校等調査 FY2024"),
    Target("truancy_junior_high", 0.068, 0.02, "問題行動・不登校等調査 FY2024"),
    Target("abuse_reports_per_year", 0.012, 0.004, "福祉行政報告例 FY2024"),
    Target("child_protection_registered", 0.014, 0.006, "こども家庭庁 2024-04"),
    Target("epds_positive_births", 0.12, 0.03, "健やか親子21"),
    Target("young_carer_age_11_17", 0.055, 0.02, "ヤングケアラー実態調査 FY2020-21"),
)


def measured_rates(world: World) -> dict[str, float]:
    profile = world.profile
    n_months = profile.n_months
    months = np.arange(n_months)
    fy = fiscal_year(profile.start, months)
    children = world.children
    hh = children["household_id"].to_numpy()
    age = months[None, :] - children["birth_month"].to_numpy()[:, None]
    present = world.present[hh] & (age >= 0) & (age < 216)
    child_months = present.sum()
    rates: dict[str, float] = {}

    kids = children.groupby("household_id").size()
    income = world.income.assign(weight=world.income["household_id"].map(kids).fillna(0))
    rates["child_relative_poverty"] = float(
        np.average(income["relative_poverty"], weights=income["weight"])
    )
    single = ~world.partnered[:, 0]
    first_year = income[income["fiscal_year"] == income["fiscal_year"].min()]
    single_rows = single[first_year["household_id"].to_numpy()]
    rates["single_parent_poverty"] = float(
        np.average(
            first_year["relative_poverty"][single_rows], weights=first_year["weight"][single_rows]
        )
    )

    pupil = present & (world.grade >= 1) & (world.grade <= 9)
    may = calendar_month(profile.start, months) == 6
    rates["school_aid_pupils"] = float(world.school_aid[:, may].sum() / pupil[:, may].sum())
    rates["public_assistance_children"] = float(
        (world.public_assistance[hh] & present).sum() / child_months
    )

    full_years = [y for y in np.unique(fy) if (fy == y).sum() == 12]
    onsets = world.onsets
    truancy = onsets[onsets["hardship"] == "truancy"]
    elem: list[float] = []
    jh: list[float] = []
    for year in full_years:
        april = int(np.nonzero(fy == year)[0][0])
        year_onsets = set(truancy.loc[fy[truancy["month"].to_numpy()] == year, "child_index"])
        grade = world.grade[:, april]
        for stage, bucket in (((1, 6), elem), ((7, 9), jh)):
            rows = np.nonzero(pupil[:, april] & (grade >= stage[0]) & (grade <= stage[1]))[0]
            bucket.append(np.isin(rows, list(year_onsets)).mean())
    rates["truancy_elementary"] = float(np.mean(elem))
    rates["truancy_junior_high"] = float(np.mean(jh))

    abuse = onsets[onsets["hardship"] == "abuse"]
    rates["abuse_reports_per_year"] = float(len(abuse) / (child_months / 12))
    rates["child_protection_registered"] = float(
        (world.support["abuse"] & present).sum() / child_months
    )
    epds = world.events["epds"]
    per_birth = epds.groupby("child_index")["score"].max()
    rates["epds_positive_births"] = float((per_birth >= 9).mean())
    older = present & (age >= 132) & (age < 216)
    rates["young_carer_age_11_17"] = float(
        (world.support["young_carer_true"] & older).sum() / older.sum()
    )
    return rates


def labelled_true_risk(world: World, hardship: str) -> pd.DataFrame:
    """True risk rows for one hardship with the 6-month onset label, supported children removed."""
    risk = world.true_risk[["child_index", "month", hardship]].dropna()
    onsets = world.onsets[world.onsets["hardship"] == hardship]
    n_children = len(world.children)
    n_months = world.profile.n_months
    onset_grid = np.zeros((n_children, n_months + HORIZON_MONTHS), dtype=bool)
    onset_grid[onsets["child_index"].to_numpy(), onsets["month"].to_numpy()] = True
    window = np.zeros((n_children, n_months), dtype=bool)
    for k in range(HORIZON_MONTHS):
        window |= onset_grid[:, k : k + n_months]
    child = risk["child_index"].to_numpy()
    month = risk["month"].to_numpy()
    support = world.support["young_carer_true" if hardship == "young_carer" else hardship]
    supported = support[child, month - 1]
    labelled = risk.assign(label=window[child, month], already_supported=supported)
    return labelled[~labelled["already_supported"]]


def oracle_auc(world: World) -> dict[str, float]:
    """ROC AUC of the true 6-month risk against the realised onsets, per hardship."""
    result = {}
    for hardship in HARDSHIPS:
        rows = labelled_true_risk(world, hardship)
        if rows["label"].nunique() < 2:
            result[hardship] = float("nan")
            continue
        result[hardship] = float(roc_auc_score(rows["label"], rows[hardship]))
    return result
