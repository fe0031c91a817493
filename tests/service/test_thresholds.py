"""Threshold policies: validation, resolution to cuts, capacity among the not yet supported,
the default policy, versioning, and the resolver's caching of policies in force."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from features.store.database import make_engine
from service.store.migrate import upgrade
from service.store.models import ThresholdPolicyVersion
from service.thresholds import (
    DEFAULT_POLICY,
    EMPTY,
    BandRule,
    EvaluationSet,
    PolicyOrderError,
    ThresholdError,
    ThresholdPolicy,
    ThresholdResolver,
    capacity_cut,
    current_policy,
    evaluate_policy,
    period_months,
    policy_history,
    recall_cut,
    resolve_cuts,
    save_policy,
    share_quota,
)

# -- validation ---------------------------------------------------------------------------------


def test_a_band_rule_needs_exactly_one_definition() -> None:
    with pytest.raises(ValidationError, match="exactly one"):
        BandRule()
    with pytest.raises(ValidationError, match="exactly one"):
        BandRule(capacity_share=0.1, probability=0.2)
    assert BandRule(capacity_count=40).kind == "capacity_count"


@pytest.mark.parametrize(
    ("bands", "band"),
    [
        # moderate admits fewer children than high: the bands overlap.
        ({"high": {"capacity_share": 0.05}, "moderate": {"capacity_share": 0.025}}, "moderate"),
        ({"high": {"capacity_share": 0.05}, "moderate": {"capacity_share": 0.05}}, "moderate"),
        ({"high": {"probability": 0.2}, "moderate": {"probability": 0.3}}, "moderate"),
        ({"high": {"capacity_count": 10}, "moderate": {"capacity_count": 5}}, "moderate"),
        ({"high": {"target_recall": 0.5}, "moderate": {"target_recall": 0.3}}, "moderate"),
        (
            {
                "high": {"capacity_share": 0.01},
                "moderate": {"capacity_share": 0.05},
                "watch": {"capacity_share": 0.04},
            },
            "watch",
        ),
        # Without a moderate band, watch is compared with high.
        ({"high": {"probability": 0.2}, "watch": {"probability": 0.5}}, "watch"),
    ],
)
def test_overlapping_bands_are_refused_naming_the_band(bands: dict, band: str) -> None:
    with pytest.raises(ValidationError) as caught:
        ThresholdPolicy.model_validate(bands)
    errors = caught.value.errors()
    assert [e["loc"] for e in errors] == [(band,)]
    assert f"band {band}" in errors[0]["msg"]


def test_ordered_policies_and_mixed_kinds_validate() -> None:
    policy = ThresholdPolicy.model_validate(
        {
            "high": {"capacity_count": 40},
            "moderate": {"target_recall": 0.5},
            "watch": {"probability": 0.01},
        }
    )
    assert [band for band, _ in policy.rules()] == ["high", "moderate", "watch"]
    # Only high is required.
    assert [band for band, _ in ThresholdPolicy(high=BandRule(probability=0.3)).rules()] == ["high"]


def test_the_default_policy_is_the_fy2025_funnel() -> None:
    assert DEFAULT_POLICY.document() == {
        "high": {"capacity_share": 0.025},
        "moderate": {"capacity_share": 0.05},
        "watch": {"capacity_share": 0.1},
    }
    # 2,475 of 98,116 children: the share rounds to the demonstration's count.
    assert abs(share_quota(0.025, 98_116) - 2_475) <= 25


# -- resolution -----------------------------------------------------------------------------------


def test_capacity_counts_only_children_not_yet_supported() -> None:
    probabilities = np.linspace(0.0, 0.99, 100)
    supported = np.zeros(100, dtype=bool)
    supported[-5:] = True  # the five highest are already known to staff
    policy = ThresholdPolicy(high=BandRule(capacity_count=3), moderate=BandRule(capacity_count=10))
    cuts, clamped = resolve_cuts(policy, probabilities, supported)
    assert clamped == ()
    high = probabilities >= cuts["high"]
    # Three children not yet supported fill the capacity; the five supported are above the cut
    # too but do not use it up.
    assert int((high & ~supported).sum()) == 3
    assert int((high & supported).sum()) == 5
    assert cuts["high"] == pytest.approx(probabilities[-8])
    moderate = (probabilities >= cuts["moderate"]) & ~high
    assert int((moderate & ~supported).sum()) == 7


def test_capacity_share_rounds_like_training_and_shares_are_cumulative() -> None:
    probabilities = np.arange(1, 1001) / 1001.0
    supported = np.zeros(1000, dtype=bool)
    cuts, _ = resolve_cuts(DEFAULT_POLICY, probabilities, supported)
    counts = {band: int((probabilities >= cut).sum()) for band, cut in cuts.items()}
    assert counts == {"high": 25, "moderate": 50, "watch": 100}


def test_capacity_is_never_exceeded_by_ties() -> None:
    probabilities = np.array([0.9, 0.5, 0.5, 0.5, 0.1])
    eligible = np.ones(5, dtype=bool)
    # The second place is shared by three children: taking all would exceed a capacity of 2.
    assert capacity_cut(probabilities, eligible, 2) == 0.9
    assert capacity_cut(probabilities, eligible, 4) == 0.5
    assert capacity_cut(np.full(5, 0.2), eligible, 2) == EMPTY
    assert capacity_cut(probabilities, eligible, 0) == EMPTY


def test_rules_of_different_kinds_that_cross_are_refused_or_emptied() -> None:
    probabilities = np.linspace(0.0, 0.5, 51)
    supported = np.zeros(51, dtype=bool)
    policy = ThresholdPolicy(high=BandRule(capacity_count=2), moderate=BandRule(probability=0.9))
    with pytest.raises(PolicyOrderError) as caught:
        resolve_cuts(policy, probabilities, supported, strict=True)
    assert caught.value.band == "moderate"
    cuts, clamped = resolve_cuts(policy, probabilities, supported)
    assert clamped == ("moderate",)
    assert cuts["moderate"] == cuts["high"]  # an empty band, not one above high


def test_recall_cut_known_answers() -> None:
    positives = np.array([0.2, 0.9, 0.5, 0.8])
    assert recall_cut(positives, 0.5) == 0.8  # 2 of 4 found at p >= 0.8
    assert recall_cut(positives, 0.75) == 0.5
    assert recall_cut(positives, 1.0) == 0.2
    assert recall_cut(positives, 0.01) == 0.9
    with pytest.raises(ThresholdError, match="no onsets"):
        recall_cut(np.array([]), 0.5)


def test_period_months() -> None:
    assert period_months("2024-11..2025-02") == ("2024-11", "2024-12", "2025-01", "2025-02")
    with pytest.raises(ThresholdError):
        period_months("last year")


def test_evaluate_policy_known_answer() -> None:
    # One month, one municipality: ten children, p = 0.1..1.0; onsets at 1.0, 0.9 and 0.4;
    # the child at 0.8 is already supported and one at 0.7 has no known outcome.
    p = np.arange(1, 11) / 10.0
    onset = np.isin(p, [1.0, 0.9, 0.4])
    labelled = ~np.isclose(p, 0.7)
    supported = np.isclose(p, 0.8)
    evaluation = EvaluationSet(
        months=np.full(10, "2025-01"),
        municipalities=np.full(10, "990001"),
        probabilities=p,
        outcomes=onset,
        labelled=labelled,
        already_supported=supported,
    )
    policy = ThresholdPolicy(high=BandRule(capacity_count=2), moderate=BandRule(capacity_count=4))
    outcomes, onsets = evaluate_policy(policy, evaluation, "990001", None)
    assert onsets == 3
    high, moderate = outcomes
    assert (high.children, high.onsets, high.labelled) == (2, 2, 2)  # 1.0 and 0.9
    # moderate: 0.7 and 0.6 (0.8 is supported and does not take capacity), 0.7 unlabelled.
    assert (moderate.children, moderate.onsets, moderate.labelled) == (2, 0, 1)
    assert (moderate.cumulative_children, moderate.cumulative_onsets) == (4, 2)


# -- storage and versions -------------------------------------------------------------------------


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'policies.db'}")
    upgrade(engine)
    yield engine
    engine.dispose()


def test_no_stored_policy_means_the_default(database: Engine) -> None:
    with Session(database) as session:
        stored = current_policy(session, "abuse", "990001")
        assert stored.version is None and stored.policy == DEFAULT_POLICY
        assert policy_history(session, "abuse", "990001") == []


def test_every_change_is_a_new_version(database: Engine) -> None:
    first = ThresholdPolicy(high=BandRule(capacity_count=40))
    second = ThresholdPolicy(high=BandRule(probability=0.2), watch=BandRule(probability=0.05))
    when = dt.datetime(2026, 4, 1, tzinfo=dt.UTC)
    with Session(database) as session:
        save_policy(session, "abuse", "990001", first, who="admin-a", why="capacity", now=when)
        session.commit()
        save_policy(session, "abuse", "990001", second, who="admin-b", why="fixed cut")
        # Another municipality's versions are counted apart.
        save_policy(session, "abuse", "990002", first, who="admin-a", why="capacity")
        session.commit()
    with Session(database) as session:
        current = current_policy(session, "abuse", "990001")
        assert (current.version, current.policy, current.created_by) == (2, second, "admin-b")
        history = policy_history(session, "abuse", "990001")
        assert [v.version for v in history] == [2, 1]
        # The first version is kept as it was.
        assert history[1].policy == first and history[1].reason == "capacity"
        assert history[1].created_at is not None
        assert history[1].created_at.replace(tzinfo=dt.UTC) == when
        assert current_policy(session, "abuse", "990002").version == 1
        assert session.scalar(select(func.count()).select_from(ThresholdPolicyVersion)) == 3


def test_a_change_needs_a_reason_and_a_name(database: Engine) -> None:
    with Session(database) as session:
        with pytest.raises(ThresholdError, match="reason"):
            save_policy(session, "abuse", "990001", DEFAULT_POLICY, who="admin", why="  ")
        with pytest.raises(ThresholdError, match="who"):
            save_policy(session, "abuse", "990001", DEFAULT_POLICY, who="", why="because")


# -- the resolver, on a stand-in engine -----------------------------------------------------------


@dataclass
class _Population:
    probabilities: np.ndarray
    already_supported: np.ndarray
    child_ids: np.ndarray

    def __len__(self) -> int:
        return len(self.probabilities)


class _Engine:
    """Just what the resolver asks of the scoring engine."""

    latest_month = "2026-03"

    def __init__(self) -> None:
        self.calls = 0
        self.probabilities = np.arange(1, 201) / 201.0

    def model_version(self, hardship: str) -> str | None:
        return "7"

    def population(self, month: str, municipality: str, hardship: str) -> _Population:
        self.calls += 1
        n = len(self.probabilities)
        return _Population(
            self.probabilities, np.zeros(n, dtype=bool), np.array([f"c{i}" for i in range(n)])
        )


def test_resolver_uses_the_default_then_the_saved_policy(database: Engine) -> None:
    engine = _Engine()
    factory = sessionmaker(database)
    resolver = ThresholdResolver(engine, factory, policy_ttl_seconds=3600)  # type: ignore[arg-type]
    default = resolver.cuts("abuse", "990001")
    assert default.policy_version is None and default.model_version == "7"
    # 2.5 % of 200 children = 5.
    assert int((engine.probabilities >= default.cuts["high"]).sum()) == 5
    assert resolver.band_for("abuse", "990001", 1.0) == "high"
    assert resolver.band_for("abuse", "990001", 0.0) is None
    calls = engine.calls
    resolver.band_for("abuse", "990001", 0.5)
    assert engine.calls == calls  # cuts are cached

    with factory() as session:
        save_policy(
            session,
            "abuse",
            "990001",
            ThresholdPolicy(high=BandRule(probability=0.5)),
            who="admin",
            why="fixed cut for the pilot",
        )
        session.commit()
    # Within the TTL the cached policy stands until the change is announced.
    assert resolver.cuts("abuse", "990001").policy_version is None
    resolver.invalidate("abuse", "990001")
    cuts = resolver.cuts("abuse", "990001")
    assert (cuts.policy_version, dict(cuts.cuts)) == (1, {"high": 0.5})
    assert resolver.band_for("abuse", "990001", 0.49) is None
    assert resolver.band_for("abuse", "990002", 1.0) == "high"  # other municipality: default


def test_resolver_check_refuses_crossing_rules_at_the_latest_month(database: Engine) -> None:
    resolver = ThresholdResolver(_Engine(), sessionmaker(database))  # type: ignore[arg-type]
    crossing = ThresholdPolicy(high=BandRule(capacity_count=5), moderate=BandRule(probability=0.99))
    with pytest.raises(PolicyOrderError) as caught:
        resolver.check("abuse", "990001", crossing)
    assert caught.value.band == "moderate"
    assert resolver.check("abuse", "990001", DEFAULT_POLICY) is not None
