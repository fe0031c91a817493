"""Structure of the hidden world: households, twins, births, movers and name changes."""

from __future__ import annotations

import numpy as np

from synthetic.generator import build_world
from synthetic.profiles import resolve_profile


def test_children_at_last_month_match_the_profile(tiny_world, tiny_profile) -> None:  # type: ignore[no-untyped-def]
    last = tiny_profile.n_months - 1
    age = last - tiny_world.children["birth_month"].to_numpy()
    present = tiny_world.present[tiny_world.children["household_id"].to_numpy(), last]
    count = int(((age >= 0) & (age < 216) & present).sum())
    assert abs(count - tiny_profile.n_children) <= 0.02 * tiny_profile.n_children


def test_twins_are_about_one_percent_of_births(tiny_world) -> None:  # type: ignore[no-untyped-def]
    share = tiny_world.children["twin"].mean()
    assert 0.005 <= share <= 0.04
    twins = tiny_world.children[tiny_world.children["twin"]]
    pairs = twins.groupby(["household_id", "birth_date"]).size()
    assert (pairs >= 2).all()


def test_history_has_births_movers_and_surname_changes(tiny_world) -> None:  # type: ignore[no-untyped-def]
    births = (tiny_world.children["birth_month"] >= 0).sum()
    assert births > 100
    kinds = set(tiny_world.residences["move_kind"])
    assert {"initial", "local", "between"} <= kinds
    assert len(tiny_world.name_changes) > 0
    assert set(tiny_world.name_changes["reason"]) <= {"離婚", "婚姻・養子縁組"}


def test_same_seed_same_world_other_seed_other_world() -> None:
    profile = resolve_profile("tiny", children=400, seed=3)
    first = build_world(profile)
    second = build_world(profile)
    other = build_world(resolve_profile("tiny", children=400, seed=4))
    assert first.people.equals(second.people)
    np.testing.assert_array_equal(first.absence_days, second.absence_days)
    assert not first.people["surname"].equals(other.people["surname"].iloc[: len(first.people)])


def test_signals_precede_outcomes(tiny_world) -> None:  # type: ignore[no-untyped-def]
    # Absence in the three months before a truancy onset is well above the pupil average.
    onsets = tiny_world.onsets[tiny_world.onsets["hardship"] == "truancy"]
    onsets = onsets[onsets["month"] >= 4]
    absence = tiny_world.absence_days - tiny_world.illness_days
    before = np.mean(
        [
            absence[c, m - 3 : m].mean()
            for c, m in zip(onsets["child_index"], onsets["month"], strict=True)
        ]
    )
    pupils = (tiny_world.grade >= 1) & (tiny_world.grade <= 9)
    assert before > 3 * absence[pupils].mean()


def test_a_small_town_with_no_new_school_aid_applicant_still_generates() -> None:
    # Seed 9 at 400 children leaves the smallest town without a new 就学援助 applicant one May.
    world = build_world(resolve_profile("tiny", children=400, seed=9))
    assert world.school_aid.any()


def _recorded_within_horizon(world):  # type: ignore[no-untyped-def]
    """Rows (child, as-of month) not yet identified, and whether a recorded spell starts.

    Built as the young-carer extract and label are: each identification records the month its
    spell began (the child's latest onset before it), or the identification month for a spell
    under way when the history starts.
    """
    from synthetic.world import HORIZON_MONTHS, YOUNG_CARER_RECORDED

    found = world.events["young_carer_identified"]
    onsets = world.onsets[world.onsets["hardship"] == "young_carer"]
    n_children, n_months = world.support["young_carer"].shape
    grid = np.zeros((n_children, n_months + HORIZON_MONTHS), dtype=bool)
    for child, month in zip(found["child_index"], found["month"], strict=True):
        began = onsets.loc[(onsets["child_index"] == child) & (onsets["month"] <= month), "month"]
        grid[child, int(began.max()) if len(began) else month] = True
    window = np.zeros((n_children, n_months), dtype=bool)
    for k in range(HORIZON_MONTHS):
        window |= grid[:, k : k + n_months]
    risk = world.true_risk.dropna(subset=[YOUNG_CARER_RECORDED, "young_carer"])
    child, month = risk["child_index"].to_numpy(), risk["month"].to_numpy()
    open_ = ~world.support["young_carer"][child, month - 1]
    return risk[open_], window[child, month][open_]


def test_recorded_onset_risk_is_the_risk_of_what_labels_count(tiny_world) -> None:  # type: ignore[no-untyped-def]
    from sklearn.metrics import roc_auc_score

    from synthetic.world import YOUNG_CARER_RECORDED

    rows, label = _recorded_within_horizon(tiny_world)
    recorded = rows[YOUNG_CARER_RECORDED].to_numpy(dtype=float)
    assert label.sum() >= 20
    assert ((recorded >= 0) & (recorded <= 1)).all()
    # About as many recorded onsets as it predicts (each falls in up to six overlapping
    # windows, so a tiny world's count is far noisier than its size suggests)...
    ratio = float(label.sum()) / recorded.sum()
    assert 0.7 <= ratio <= 1.5, ratio
    # ...and it ranks them better than the risk of starting to care, which does not know that
    # the survey reaches only grades 4-9 or that a late spell is not identified in time.
    onset_auc = roc_auc_score(label, rows["young_carer"].to_numpy(dtype=float))
    assert roc_auc_score(label, recorded) > onset_auc + 0.02
