"""The training frame contract and its join from the feature store's outputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.frame import (
    MissingFeatureTableError,
    TrainingFrame,
    TrainingFrameError,
    training_frame_from,
)


def _store_outputs() -> tuple[pd.DataFrame, pd.DataFrame]:
    keys = pd.DataFrame(
        {
            "person_id": ["a", "b", "a", "b"],
            "as_of_month": ["2024-04", "2024-04", "2024-05", "2024-05"],
        }
    )
    features = keys.assign(
        municipality=["131016"] * 4,
        age_months=[30.0, 100.0, 31.0, 101.0],
        single_parent=[1.0, np.nan, 1.0, np.nan],
        foreign_nationality=[0.0, 1.0, 0.0, 1.0],
    )
    labels = keys.assign(
        label_abuse=pd.array([True, None, False, False], dtype="boolean"),
        already_supported_abuse=[False, False, True, False],
    )
    return features, labels


def test_join_fills_the_contract() -> None:
    features, labels = _store_outputs()
    frame = training_frame_from(
        features,
        labels.iloc[::-1],  # row order must not matter
        households=pd.DataFrame({"person_id": ["a"], "household_id": ["H1"]}),
        attributes=pd.DataFrame({"person_id": ["a", "b"], "sex": ["F", "M"]}),
    )
    data = frame.data.sort_values(["as_of_month", "person_id"])
    assert frame.feature_names == ("age_months", "single_parent", "foreign_nationality")
    assert data["household_id"].tolist() == ["H1", "person:b", "H1", "person:b"]
    assert data["foreign"].tolist() == [0.0, 1.0, 0.0, 1.0]
    assert frame.hardships == ("abuse",)
    labels_out = data["label_abuse"].to_numpy()
    assert labels_out[0] == 1.0 and np.isnan(labels_out[1]) and labels_out[2] == 0.0
    assert data["already_supported_abuse"].tolist() == [False, False, True, False]


def test_missing_feature_table_is_a_clear_error() -> None:
    _, labels = _store_outputs()
    with pytest.raises(MissingFeatureTableError, match="missing"):
        training_frame_from(
            None,
            labels,
            households=pd.DataFrame(columns=["person_id", "household_id"]),
            attributes=pd.DataFrame(columns=["person_id", "sex"]),
        )
    with pytest.raises(MissingFeatureTableError):
        TrainingFrame.from_dataframe(pd.DataFrame())


def test_labels_that_do_not_match_features_are_refused() -> None:
    features, labels = _store_outputs()
    duplicated = pd.concat([labels, labels.iloc[:1]])
    with pytest.raises(TrainingFrameError, match="row for row"):
        training_frame_from(
            features,
            duplicated,
            households=pd.DataFrame({"person_id": ["a"], "household_id": ["H1"]}),
            attributes=pd.DataFrame({"person_id": ["a"], "sex": ["F"]}),
        )


def test_ground_truth_can_never_be_a_feature(fabricated) -> None:
    with pytest.raises(TrainingFrameError, match="ground truth"):
        TrainingFrame.from_dataframe(fabricated, feature_names=["age_months", "true_risk_abuse"])
    # By default true_risk columns are simply not features.
    frame = TrainingFrame.from_dataframe(fabricated)
    assert not any(n.startswith("true_risk_") for n in frame.feature_names)
    assert "sex" not in frame.feature_names and "household_id" not in frame.feature_names


def test_bad_months_are_refused(fabricated) -> None:
    broken = fabricated.head(10).assign(as_of_month="April 2024")
    with pytest.raises(TrainingFrameError, match="YYYY-MM"):
        TrainingFrame.from_dataframe(broken)


def test_a_child_with_several_households_joins_them_into_one_group() -> None:
    features, labels = _store_outputs()
    # a lived in H1, then in H2; b lives in H2: both end up in one group.
    spells = pd.DataFrame({"person_id": ["a", "a", "b"], "household_id": ["H1", "H2", "H2"]})
    frame = training_frame_from(
        features,
        labels,
        households=spells,
        attributes=pd.DataFrame({"person_id": ["a", "b"], "sex": ["F", "M"]}),
    )
    assert set(frame.data["household_id"]) == {"H1"}


def test_load_training_frame_joins_the_store(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import datetime as dt

    from sqlalchemy.orm import Session

    from features.store.database import make_engine
    from features.store.migrate import upgrade
    from features.store.models import HouseholdLink, LinkageRun, Person
    from training.frame import load_training_frame

    features, labels = _store_outputs()
    store = tmp_path / "features"
    store.mkdir()
    features.to_parquet(store / "features.parquet", index=False)
    labels.to_parquet(store / "labels.parquet", index=False)
    url = f"sqlite:///{tmp_path / 'mimamori.db'}"
    engine = make_engine(url)
    upgrade(engine)
    with Session(engine) as session:
        session.add(
            LinkageRun(id=1, started_at=dt.datetime(2026, 4, 1, tzinfo=dt.UTC), status="succeeded")
        )
        session.flush()
        session.add_all(
            [
                Person(person_id="a", run_id=1, role="child", birth_date=None, sex="F"),
                Person(person_id="b", run_id=1, role="child", birth_date=None, sex="M"),
            ]
        )
        session.flush()
        session.add(
            HouseholdLink(
                person_id="a", household_key="131016:1", household_id="H1", municipality="131016"
            )
        )
        session.commit()
    engine.dispose()

    frame = load_training_frame(store, url)
    data = frame.data.sort_values(["as_of_month", "person_id"])
    assert data["household_id"].tolist() == ["H1", "person:b", "H1", "person:b"]
    assert data["sex"].tolist() == ["F", "M", "F", "M"]
    assert frame.hardships == ("abuse",)


def test_load_training_frame_without_a_feature_store_says_what_to_run(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from training.frame import load_training_frame

    with pytest.raises(MissingFeatureTableError, match="mimamori features"):
        load_training_frame(tmp_path / "features", f"sqlite:///{tmp_path / 'mimamori.db'}")
