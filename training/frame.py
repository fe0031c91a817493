"""The training frame: the one table training reads, and how it is joined from the feature store.

Contract (one row per child and as-of month):

- person_id: pseudonymous child id (str).
- as_of_month: 'YYYY-MM'; every feature was known before its first day.
- municipality: the child's municipality at the as-of month (str).
- household_id: grouping key for siblings (str). Splits keep a household, and every household
  linked to it through a child who moved, on one side.
- sex, foreign, single_parent: group attributes for the fairness table (missing reads
  "unknown"); single_parent is also a feature when the feature store provides it.
- feature columns: numeric (NaN allowed; LightGBM treats it as missing) or categorical (str).
- label_<h>: onset of hardship h within the horizon, 1.0 or 0.0; NaN when the child is not
  eligible or the window is not yet observed.
- already_supported_<h>: the child was already supported for h, as known before the month.

Columns starting with `true_risk_` are refused as features: synthetic ground truth must never
reach a model (the oracle gap reads it through `training.evaluation` only).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from models.hardships import label_column, supported_column

__all__ = [
    "GROUP_COLUMNS",
    "KEY_COLUMNS",
    "MissingFeatureTableError",
    "TrainingFrame",
    "TrainingFrameError",
    "household_components",
    "load_training_frame",
    "training_frame_from",
]

KEY_COLUMNS: Final = ("person_id", "as_of_month", "municipality", "household_id")
GROUP_COLUMNS: Final = ("sex", "foreign", "single_parent")
# Group attributes that are never model features unless named explicitly.
_GROUP_ONLY: Final = ("sex", "foreign")
_RESERVED_PREFIXES: Final = ("label_", "already_supported_", "true_risk_")
_FORBIDDEN_FEATURE_PREFIX: Final = "true_risk_"


class TrainingFrameError(ValueError):
    """The training input does not meet the contract; the message says how."""


class MissingFeatureTableError(TrainingFrameError):
    """There is no feature table, or it has no rows or no feature columns."""


def _month_strings(values: pd.Series) -> pd.Series:
    if isinstance(values.dtype, pd.PeriodDtype):
        return values.astype(str)
    text = values.astype(str)
    if not text.str.fullmatch(r"\d{4}-\d{2}").all():
        bad = text[~text.str.fullmatch(r"\d{4}-\d{2}")].iloc[0]
        raise TrainingFrameError(f"as_of_month must be 'YYYY-MM', found {bad!r}")
    return text


@dataclass(frozen=True)
class TrainingFrame:
    """A validated training table and the names of its feature columns."""

    data: pd.DataFrame
    feature_names: tuple[str, ...]

    @classmethod
    def from_dataframe(
        cls, data: pd.DataFrame | None, feature_names: Sequence[str] | None = None
    ) -> TrainingFrame:
        """Validate `data` against the contract; feature columns default to every other column."""
        if data is None or len(data) == 0:
            raise MissingFeatureTableError("the feature table is missing or has no rows")
        missing = [c for c in KEY_COLUMNS if c not in data.columns]
        if missing:
            raise TrainingFrameError(f"the training frame lacks key columns: {', '.join(missing)}")
        frame = data.reset_index(drop=True).copy()
        for column in ("person_id", "municipality", "household_id"):
            if frame[column].isna().any():
                raise TrainingFrameError(f"{column} has missing values")
            frame[column] = frame[column].astype(str)
        frame["as_of_month"] = _month_strings(frame["as_of_month"])
        if frame.duplicated(["person_id", "as_of_month"]).any():
            raise TrainingFrameError("person_id and as_of_month do not identify rows uniquely")
        for column in GROUP_COLUMNS:
            if column not in frame.columns:
                raise TrainingFrameError(f"the training frame lacks group attribute {column!r}")
        if feature_names is None:
            names = tuple(
                c
                for c in frame.columns
                if c not in KEY_COLUMNS
                and c not in _GROUP_ONLY
                and not str(c).startswith(_RESERVED_PREFIXES)
            )
        else:
            names = tuple(feature_names)
        _check_features(frame, names)
        if not any(str(c).startswith("label_") for c in frame.columns):
            raise TrainingFrameError("the training frame has no label_<hardship> columns")
        for column in [c for c in frame.columns if str(c).startswith("label_")]:
            frame[column] = (
                frame[column].astype("Float64").to_numpy(dtype=np.float64, na_value=np.nan)
            )
        for column in [c for c in frame.columns if str(c).startswith("already_supported_")]:
            frame[column] = frame[column].astype("boolean").fillna(False).astype(bool)
        return cls(frame, names)

    @property
    def hardships(self) -> tuple[str, ...]:
        """Hardships with a label column, in column order."""
        return tuple(
            str(c).removeprefix("label_") for c in self.data.columns if str(c).startswith("label_")
        )

    @property
    def months(self) -> tuple[str, ...]:
        return tuple(sorted(self.data["as_of_month"].unique()))

    def labels(self, hardship: str) -> np.ndarray:
        column = label_column(hardship)
        if column not in self.data.columns:
            raise TrainingFrameError(f"the training frame has no column {column}")
        return self.data[column].to_numpy(dtype=np.float64)

    def supported(self, hardship: str) -> np.ndarray:
        column = supported_column(hardship)
        if column not in self.data.columns:
            return np.zeros(len(self.data), dtype=bool)
        return self.data[column].to_numpy(dtype=bool)

    def __len__(self) -> int:
        return len(self.data)


def _check_features(frame: pd.DataFrame, names: tuple[str, ...]) -> None:
    if not names:
        raise MissingFeatureTableError("the training frame has no feature columns")
    absent = [n for n in names if n not in frame.columns]
    if absent:
        raise TrainingFrameError(f"feature columns not in the frame: {', '.join(absent)}")
    leaking = [n for n in names if n.startswith(_RESERVED_PREFIXES)]
    if leaking:
        raise TrainingFrameError(
            f"labels, support flags and ground truth cannot be features: {', '.join(leaking)}"
        )


def household_components(person_ids: np.ndarray, household_ids: np.ndarray) -> np.ndarray:
    """Per row, the id of the group of children linked through shared households."""
    person_code, people = pd.factorize(np.asarray(person_ids, dtype=str))
    home_code, homes = pd.factorize(np.asarray(household_ids, dtype=str))
    size = len(people) + len(homes)
    graph = coo_matrix(
        (np.ones(len(person_code)), (person_code, len(people) + home_code)), shape=(size, size)
    )
    _, labels = connected_components(graph, directed=False)
    result: np.ndarray = labels[: len(people)][person_code]
    return result


def training_frame_from(
    features: pd.DataFrame | None,
    labels: pd.DataFrame,
    *,
    households: pd.DataFrame,
    attributes: pd.DataFrame,
    feature_columns: Sequence[str] | None = None,
) -> TrainingFrame:
    """Join the feature store's outputs into a `TrainingFrame`.

    `features` is `build_features(...)` (person_id, as_of_month, municipality, features) and
    `labels` is `build_labels(...)` on the same records and months. `households` maps
    person_id (optionally per as_of_month) to household_id; without as_of_month a child may
    have several rows (one per residence spell) and all its households form one group; a child
    without any is its own household. `attributes` gives person_id and sex, and may give
    foreign and single_parent; otherwise they come from the feature columns
    foreign_nationality and single_parent.
    """
    if features is None or len(features) == 0:
        raise MissingFeatureTableError("the feature table is missing or has no rows")
    keys = ["person_id", "as_of_month"]
    for name, table in (("features", features), ("labels", labels)):
        absent = [c for c in keys if c not in table.columns]
        if absent:
            raise TrainingFrameError(f"{name} lacks {', '.join(absent)}")
    if "municipality" not in features.columns:
        raise TrainingFrameError("features lacks municipality")
    if feature_columns is None:
        feature_columns = [
            c for c in features.columns if c not in keys and c not in ("municipality",)
        ]
    label_columns = [c for c in labels.columns if str(c).startswith(("label_", "already_"))]
    left = features.assign(as_of_month=_month_strings(features["as_of_month"]))
    right = labels[[*keys, *label_columns]].assign(
        as_of_month=_month_strings(labels["as_of_month"])
    )
    left = left.assign(person_id=left["person_id"].astype(str))
    right = right.assign(person_id=right["person_id"].astype(str))
    try:
        frame = left.merge(right, on=keys, how="inner", validate="one_to_one")
    except pd.errors.MergeError as error:
        raise TrainingFrameError(f"features and labels do not match row for row: {error}") from None
    if len(frame) == 0:
        raise TrainingFrameError("features and labels share no (person_id, as_of_month) rows")

    homes = households.assign(
        person_id=households["person_id"].astype(str),
        household_id=households["household_id"].astype(str),
    )
    if "as_of_month" in homes.columns:
        on = keys
        homes = homes.assign(as_of_month=_month_strings(homes["as_of_month"]))
        homes = homes[[*on, "household_id"]].drop_duplicates(on)
    else:
        # A child with several households (one per residence spell) keeps them all together:
        # each person gets the first household id of the group their households form.
        on = ["person_id"]
        pairs = homes[["person_id", "household_id"]].drop_duplicates()
        group = household_components(
            pairs["person_id"].to_numpy(), pairs["household_id"].to_numpy()
        )
        first = pairs.assign(group=group).groupby("group")["household_id"].transform("min")
        homes = pairs.assign(household_id=first.to_numpy()).drop_duplicates("person_id")
    frame = frame.merge(homes, on=on, how="left")
    alone = frame["household_id"].isna()
    frame.loc[alone, "household_id"] = "person:" + frame.loc[alone, "person_id"]

    people = attributes.assign(person_id=attributes["person_id"].astype(str))
    if "sex" not in people.columns:
        raise TrainingFrameError("attributes lacks sex (needed for the fairness table)")
    # A group attribute the features already carry (single_parent) is taken from the features.
    given = [c for c in GROUP_COLUMNS if c in people.columns and c not in frame.columns]
    frame = frame.merge(
        people[["person_id", *given]].drop_duplicates("person_id"), on="person_id", how="left"
    )
    if "foreign" not in frame.columns:
        frame["foreign"] = frame.get("foreign_nationality", np.nan)
    if "single_parent" not in frame.columns:
        frame["single_parent"] = np.nan
    return TrainingFrame.from_dataframe(frame, feature_names=list(feature_columns))


def load_training_frame(features_dir: Path, database_url: str) -> TrainingFrame:
    """The training frame of a data folder: the feature store joined with the linked store.

    `features_dir` holds features.parquet and labels.parquet (`mimamori features`); the database
    gives each child's households and sex. Raises MissingFeatureTableError without a feature
    store and features.store.migrate.SchemaNotCurrentError when the database is not set up.
    """
    from sqlalchemy import select

    from features.store.database import make_engine
    from features.store.migrate import check_schema
    from features.store.models import HouseholdLink, Person

    if not (features_dir / "features.parquet").exists():
        raise MissingFeatureTableError(
            f"no feature store at {features_dir}; run `mimamori features` first"
        )
    engine = make_engine(database_url)
    try:
        check_schema(engine)
        with engine.connect() as connection:
            households = pd.DataFrame(
                connection.execute(select(HouseholdLink.person_id, HouseholdLink.household_id)),
                columns=["person_id", "household_id"],
            )
            attributes = pd.DataFrame(
                connection.execute(select(Person.person_id, Person.sex)),
                columns=["person_id", "sex"],
            )
    finally:
        engine.dispose()
    return training_frame_from(
        pd.read_parquet(features_dir / "features.parquet"),
        pd.read_parquet(features_dir / "labels.parquet"),
        households=households,
        attributes=attributes,
    )
