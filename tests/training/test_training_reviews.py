"""Training's read of review outcomes, against tables written with the service's own models
(which holds the by-name contract in training/reviews.py to service/store/models.py)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session

from service.store.migrate import upgrade
from service.store.models import ChildScore, Review, ScoreRun
from training.reviews import (
    ReviewConfig,
    apply_review_labels,
    human_confirmed_precision,
    load_flagged_counts,
    load_review_outcomes,
    model_card_section,
    review_evaluation_set,
)

T0 = dt.datetime(2026, 4, 1, tzinfo=dt.UTC)


@pytest.fixture
def database(tmp_path: Path) -> Engine:
    engine = create_engine(f"sqlite:///{tmp_path / 'service.db'}")
    upgrade(engine)
    with Session(engine) as session:
        for run_id, month, status in (
            (1, "2026-02", "succeeded"),
            (2, "2026-03", "succeeded"),
            (3, "2026-03", "failed"),
        ):
            session.add(
                ScoreRun(
                    id=run_id,
                    as_of_month=month,
                    started_at=T0,
                    status=status,
                    model_versions={"truancy": "1"},
                )
            )
        bands = ["high"] * 4 + ["moderate"] * 3 + [None] * 3
        for i, band in enumerate(bands):
            session.add(
                ChildScore(
                    run_id=2,
                    child_id=f"c{i}",
                    hardship="truancy",
                    municipality="990001",
                    probability=0.5 - i / 100,
                    percentile=99.0,
                    band=band,
                    already_supported=(i == 6),
                    model_version="1",
                    reasons=[["absence_days_3m", 10, 0.8]],
                )
            )
        decisions = [
            ("c0", "preventive_support", "high"),
            ("c1", "monitoring", "high"),
            ("c2", "no_action", "high"),
            ("c3", "needs_information", "high"),
            ("c4", "no_action", "moderate"),
        ]
        for n, (child, decision, band) in enumerate(decisions):
            session.add(
                Review(
                    child_id=child,
                    hardship="truancy",
                    municipality="990001",
                    run_id=2,
                    band=band,
                    decision=decision,
                    reason="data_error" if decision == "no_action" else None,
                    reviewer_key_id="k",
                    created_at=T0 + dt.timedelta(minutes=n),
                )
            )
        # A second look at c2: the latest decision wins.
        session.add(
            Review(
                child_id="c2",
                hardship="truancy",
                municipality="990001",
                run_id=2,
                band="high",
                decision="monitoring",
                reviewer_key_id="k",
                created_at=T0 + dt.timedelta(hours=1),
            )
        )
        session.add(
            Review(
                child_id="c9",
                hardship="truancy",
                municipality="990001",
                run_id=None,
                band=None,
                decision="monitoring",
                reviewer_key_id="k",
                created_at=T0,
            )
        )
        session.commit()
    return engine


def test_outcomes_are_the_latest_decision_per_child_and_run(database: Engine) -> None:
    outcomes = load_review_outcomes(database)
    assert sorted(outcomes["person_id"]) == ["c0", "c1", "c2", "c3", "c4"]  # c9 had no run
    by_child = outcomes.set_index("person_id")
    assert by_child.loc["c2", "decision"] == "monitoring"
    assert bool(by_child.loc["c2", "confirmed"]) is True
    assert pd.isna(by_child.loc["c3", "confirmed"])
    assert bool(by_child.loc["c4", "confirmed"]) is False
    assert set(outcomes["as_of_month"]) == {"2026-03"}


def test_precision_by_band_counts_decided_reviews_only(database: Engine) -> None:
    table = human_confirmed_precision(
        load_review_outcomes(database), load_flagged_counts(database), "truancy", min_reviews=1
    ).set_index("band")
    assert table.loc["high", ["flagged", "reviewed", "confirmed"]].tolist() == [4, 3, 3]
    assert table.loc["high", "precision"] == 1.0
    # c6 is already supported, so moderate flags two, one of them rejected.
    assert table.loc["moderate", ["flagged", "reviewed", "confirmed"]].tolist() == [2, 1, 0]
    markdown = model_card_section(table.reset_index(), min_reviews=1)
    assert "| high | 4 | 3 | 3 | 100.0% | 75.0% |" in markdown
    assert "fewer than" in model_card_section(table.reset_index(), min_reviews=5)


def test_labels_are_added_only_when_configured(database: Engine) -> None:
    outcomes = load_review_outcomes(database)
    data = pd.DataFrame(
        {
            "person_id": ["c0", "c2", "c4", "c1"],
            "as_of_month": ["2026-03"] * 4,
            "label_truancy": [0.0, np.nan, 1.0, np.nan],
        }
    )
    assert apply_review_labels(data, outcomes, ReviewConfig(), "truancy") is data
    labelled = apply_review_labels(data, outcomes, ReviewConfig(use="labels"), "truancy")
    # Confirmed -> positive; a rejection never erases a recorded onset (c4 stays 1).
    assert labelled["label_truancy"].tolist() == [1.0, 1.0, 1.0, 1.0]
    evaluation = review_evaluation_set(data, outcomes, "truancy")
    assert dict(zip(evaluation["person_id"], evaluation["human_label"], strict=True)) == {
        "c0": 1,
        "c2": 1,
        "c4": 0,
        "c1": 1,
    }


def test_a_database_without_service_tables_gives_empty_outcomes(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    assert load_review_outcomes(engine).empty
    assert load_flagged_counts(engine).empty
    assert "No reviews recorded yet." in model_card_section(
        human_confirmed_precision(load_review_outcomes(engine), None, "truancy")
    )
