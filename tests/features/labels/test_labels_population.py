"""Labels of the tiny synthetic population: plausible prevalence, onsets agree with the truth.

Labels are read off the extracts, never off the ground truth, so they cannot match it exactly:
some mothers were not screened, some towns keep no EPDS or young-carer records, and many young
carers are never identified. Where the extracts do record the outcome, they should agree.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.labels import build_labels, derive_onsets
from features.pointintime import KEY_COLUMNS, build_features
from features.timeline.records import LinkedRecords

MONTHS = [str(p) for p in pd.period_range("2021-05", "2026-03", freq="M")]
# Share of true onsets found within a month (recall) and of ours that are true (precision).
AGREEMENT = {
    "abuse": (0.9, 0.9),
    "poverty": (0.9, 0.9),
    "truancy": (0.9, 0.9),
    "postpartum_depression": (0.5, 0.7),
    "young_carer": (0.15, 0.3),
}
# Share of eligible, not yet supported child-months whose 6-month window holds an onset.
PREVALENCE = {
    "abuse": (0.002, 0.02),
    "poverty": (0.005, 0.06),
    "truancy": (0.005, 0.05),
    "postpartum_depression": (0.005, 0.1),
    "young_carer": (0.0005, 0.02),
}


@pytest.fixture(scope="module")
def frame(tiny: LinkedRecords) -> pd.DataFrame:
    return build_labels(tiny, MONTHS)


def test_same_rows_as_the_features(tiny: LinkedRecords, frame: pd.DataFrame) -> None:
    months = MONTHS[-14:]
    features = build_features(tiny, months, purposes={"school"})
    pd.testing.assert_frame_equal(
        frame[frame["as_of_month"].isin(months)][list(KEY_COLUMNS)].reset_index(drop=True),
        features[list(KEY_COLUMNS)],
    )


@pytest.mark.parametrize("hardship", list(PREVALENCE))
def test_prevalence_is_plausible(frame: pd.DataFrame, hardship: str) -> None:
    label = frame[f"label_{hardship}"]
    fresh = label[~frame[f"already_supported_{hardship}"]].dropna().astype(bool)
    low, high = PREVALENCE[hardship]
    assert low < fresh.mean() < high, fresh.mean()
    # The last months cannot see six months ahead.
    assert label[frame["as_of_month"] > "2025-10"].isna().all()


@pytest.mark.parametrize("hardship", list(AGREEMENT))
def test_onsets_agree_with_the_ground_truth(
    tiny: LinkedRecords, tiny_root: Path, hardship: str
) -> None:
    ours = derive_onsets(tiny)
    truth = pd.read_parquet(tiny_root / "ground_truth" / "onsets.parquet")
    ours = ours[ours["hardship"] == hardship]
    # Month 0 of the history has no "before" to tell an onset from a running programme.
    truth = truth[(truth["hardship"] == hardship) & (truth["onset_month"] > "2021-04")]
    ours = ours[ours["onset_month"] > "2021-04"]

    def index(frame: pd.DataFrame) -> pd.DataFrame:
        months = pd.PeriodIndex(frame["onset_month"], freq="M").asi8
        return pd.DataFrame({"person_id": frame["person_id"].to_numpy(), "month": months})

    a, b = index(truth), index(ours)
    pairs = a.merge(b, on="person_id", suffixes=("_true", "_ours"))
    close = pairs[np.abs(pairs["month_true"] - pairs["month_ours"]) <= 1]
    recall = len(close[["person_id", "month_true"]].drop_duplicates()) / max(len(a), 1)
    precision = len(close[["person_id", "month_ours"]].drop_duplicates()) / max(len(b), 1)
    low_recall, low_precision = AGREEMENT[hardship]
    assert recall >= low_recall, (recall, len(a), len(b))
    assert precision >= low_precision, (precision, len(a), len(b))


def test_support_is_only_what_was_known_before(tiny: LinkedRecords, frame: pd.DataFrame) -> None:
    # The first postnatal screening is a month after birth, so in the as-of month right after
    # birth no newborn can already be supported for postpartum depression.
    birth = tiny.people.set_index("person_id")["birth_date"].dt.to_period("M")
    month = pd.PeriodIndex(frame["as_of_month"], freq="M")
    first_month = np.asarray(month == (birth.reindex(frame["person_id"]).array + 1))
    assert first_month.sum() > 50
    assert not frame.loc[first_month, "already_supported_postpartum_depression"].any()
    supported = frame["already_supported_postpartum_depression"]
    assert supported.any()


@pytest.mark.parametrize("hardship", ["postpartum_depression", "young_carer"])
def test_towns_without_the_labels_records_leave_their_children_unlabelled(
    tiny: LinkedRecords, frame: pd.DataFrame, hardship: str
) -> None:
    from features.labels.definitions import load_label_definitions

    sources = load_label_definitions().hardships[hardship].sources
    blind = {m for m in tiny.holdings if not all(tiny.holds(m, s) for s in sources)}
    assert blind, "the tiny profile has towns without EPDS or young-carer records"
    months = MONTHS[-24:-12]
    where = build_features(tiny, months, purposes={"school"})["municipality"].astype(str)
    label = frame.loc[frame["as_of_month"].isin(months), f"label_{hardship}"].reset_index(drop=True)
    in_blind = where.isin(blind)
    # Not negatives: nothing there could have been seen.
    assert label[in_blind].isna().all()
    assert label[~in_blind].notna().any()
    assert label[~in_blind].fillna(False).astype(bool).any()
