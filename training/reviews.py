"""Reviewers' decisions as training data: extra labels, or a human-confirmed evaluation set.

    outcomes = load_review_outcomes(engine)                         # read-only
    frame = apply_review_labels(frame, outcomes, ReviewConfig(use="labels"))
    table = human_confirmed_precision(outcomes, load_flagged_counts(engine), "truancy")
    markdown = model_card_section(table)

Training never imports the service. It reads the service's tables by name, read-only, through
SQLAlchemy Core, and this is the whole contract (service/store/models.py owns the tables, and a
test here writes them with the service's models to hold the two together):

    review       child_id, hardship, municipality, run_id (-> score_run.id, NULL outside a run),
                 band (high | moderate | watch | NULL), decision (preventive_support |
                 monitoring | no_action | needs_information), reason, created_at
    score_run    id, as_of_month ('YYYY-MM'), status (only 'succeeded' runs are read)
    child_score  run_id, child_id, hardship, band, already_supported

A decision counts for the child (person_id = child_id), hardship and as-of month of the run it
reviewed; the latest decision per (child, hardship, run) wins. Confirmed = preventive_support or
monitoring; no_action is a human "not a case"; needs_information is no decision yet and is left
out. Reviews without a run have no as-of month and are left out too.

Why evaluation only by default: reviewers see only flagged children, so their decisions are a
sample selected by the model itself. As labels they would teach the model about its own top
2.5 % only, and a rejection ("already supported elsewhere", "data error") does not mean that
no hardship followed. As an evaluation set they answer the question staff ask, how many of
the children we are sent are real, which the model card reports by band.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

import numpy as np
import pandas as pd
from sqlalchemy import Engine, inspect, text

from models.hardships import label_column

__all__ = [
    "CONFIRMED",
    "OUTCOME_COLUMNS",
    "ReviewConfig",
    "ReviewOutcomes",
    "ReviewUse",
    "apply_review_labels",
    "human_confirmed_precision",
    "load_flagged_counts",
    "load_review_outcomes",
    "load_reviews",
    "model_card_section",
    "review_evaluation_set",
]

ReviewUse = Literal["off", "evaluation", "labels"]
CONFIRMED: Final = ("preventive_support", "monitoring")
_DECIDED: Final = (*CONFIRMED, "no_action")
_BANDS: Final = ("high", "moderate", "watch")
OUTCOME_COLUMNS: Final = (
    "person_id",
    "hardship",
    "municipality",
    "as_of_month",
    "run_id",
    "band",
    "decision",
    "reason",
    "confirmed",
    "created_at",
)

_OUTCOMES_SQL: Final = text(
    """
    SELECT r.child_id, r.hardship, r.municipality, s.as_of_month, r.run_id, r.band,
           r.decision, r.reason, r.created_at, r.id
    FROM review AS r
    JOIN score_run AS s ON s.id = r.run_id
    WHERE s.status = 'succeeded'
    """
)
_FLAGGED_SQL: Final = text(
    """
    SELECT s.as_of_month, c.hardship, c.band, COUNT(*) AS flagged
    FROM child_score AS c
    JOIN score_run AS s ON s.id = c.run_id
    WHERE s.status = 'succeeded' AND c.band IS NOT NULL AND c.already_supported = :no
      AND s.id IN (
        SELECT MAX(id) FROM score_run WHERE status = 'succeeded' GROUP BY as_of_month
      )
    GROUP BY s.as_of_month, c.hardship, c.band
    """
)


@dataclass(frozen=True)
class ReviewConfig:
    """How training uses review outcomes (see the module docstring for why evaluation only).

    `use`: off, evaluation (default: report human-confirmed precision, labels untouched) or
    labels (also add confirmed reviews as positive labels). `min_reviews`: below this many
    decided reviews for a band the model card says so rather than print a precision.
    """

    use: ReviewUse = "evaluation"
    min_reviews: int = 20


@dataclass(frozen=True)
class ReviewOutcomes:
    """What training reads from the service's tables: decisions and the flagged counts."""

    outcomes: pd.DataFrame
    flagged: pd.DataFrame


def load_reviews(engine: Engine) -> ReviewOutcomes:
    """Both tables at once (empty frames where the service never ran on this database)."""
    return ReviewOutcomes(load_review_outcomes(engine), load_flagged_counts(engine))


def _tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names())


def _empty() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in OUTCOME_COLUMNS})


def load_review_outcomes(engine: Engine, hardships: tuple[str, ...] | None = None) -> pd.DataFrame:
    """The latest decision per child, hardship and reviewed run (OUTCOME_COLUMNS).

    `confirmed` is True/False for decided reviews and NA for needs_information. A database the
    service never ran on (no review table) gives an empty frame, not an error.
    """
    if not {"review", "score_run"} <= _tables(engine):
        return _empty()
    with engine.connect() as connection:
        rows = connection.execute(_OUTCOMES_SQL).all()
    if not rows:
        return _empty()
    frame = pd.DataFrame(
        rows,
        columns=[
            "person_id",
            "hardship",
            "municipality",
            "as_of_month",
            "run_id",
            "band",
            "decision",
            "reason",
            "created_at",
            "id",
        ],
    )
    if hardships is not None:
        frame = frame[frame["hardship"].isin(hardships)]
    frame = frame.sort_values(["created_at", "id"]).drop_duplicates(
        ["person_id", "hardship", "run_id"], keep="last"
    )
    confirmed = frame["decision"].isin(CONFIRMED).astype("boolean")
    confirmed[~frame["decision"].isin(_DECIDED)] = pd.NA
    frame["confirmed"] = confirmed
    frame["person_id"] = frame["person_id"].astype(str)
    frame["as_of_month"] = frame["as_of_month"].astype(str)
    return frame[list(OUTCOME_COLUMNS)].reset_index(drop=True)


def load_flagged_counts(engine: Engine) -> pd.DataFrame:
    """Children flagged per (as_of_month, hardship, band) in the latest succeeded run of each
    month, not yet supported: the denominator of the FY2025 funnel (852 of 2,475)."""
    columns = ["as_of_month", "hardship", "band", "flagged"]
    if not {"child_score", "score_run"} <= _tables(engine):
        return pd.DataFrame(columns=columns)
    with engine.connect() as connection:
        rows = connection.execute(_FLAGGED_SQL, {"no": False}).all()
    return pd.DataFrame(rows, columns=columns)


def _decided(outcomes: pd.DataFrame, hardship: str) -> pd.DataFrame:
    rows = outcomes[(outcomes["hardship"] == hardship) & outcomes["confirmed"].notna()]
    return rows.drop_duplicates(["person_id", "as_of_month"], keep="last")


def apply_review_labels(
    data: pd.DataFrame, outcomes: pd.DataFrame, config: ReviewConfig, hardship: str
) -> pd.DataFrame:
    """`data` (person_id, as_of_month, label_<hardship>) with confirmed reviews as positives
    when `config.use` is labels; unchanged otherwise.

    Only confirmations are added: a recorded onset stays an onset whatever a reviewer decided
    (no_action often means "handled elsewhere", not "no hardship"). A row whose label was not
    yet known (NA: the horizon runs past the data) takes the reviewer's decision either way.
    """
    if config.use != "labels" or outcomes.empty:
        return data
    column = label_column(hardship)
    decided = _decided(outcomes, hardship)[["person_id", "as_of_month", "confirmed"]]
    merged = data.merge(decided, on=["person_id", "as_of_month"], how="left")
    review = merged["confirmed"]
    label = merged[column].astype("Float64")
    confirmed = review.fillna(False).astype(bool).to_numpy()
    unknown = label.isna().to_numpy() & review.notna().to_numpy()
    values = label.to_numpy(dtype=np.float64, na_value=np.nan)
    values[confirmed] = 1.0
    values[unknown] = review[unknown].astype(float).to_numpy()
    result = data.copy()
    result[column] = values
    return result


def review_evaluation_set(
    data: pd.DataFrame, outcomes: pd.DataFrame, hardship: str
) -> pd.DataFrame:
    """The rows of `data` that reviewers decided on, with `human_label` (1 confirmed, 0 not)
    and the reviewed `band`: score them with a model to measure it against human review."""
    decided = _decided(outcomes, hardship)[["person_id", "as_of_month", "confirmed", "band"]]
    merged = data.merge(decided, on=["person_id", "as_of_month"], how="inner")
    merged["human_label"] = merged.pop("confirmed").astype(bool).astype(np.int8)
    return merged


def human_confirmed_precision(
    outcomes: pd.DataFrame,
    flagged: pd.DataFrame | None,
    hardship: str,
    *,
    min_reviews: int = 20,
) -> pd.DataFrame:
    """Per band: flagged, reviewed, confirmed, precision (confirmed / reviewed) and the share of
    flagged children confirmed (the FY2025 measure); `enough` says whether precision rests on
    at least `min_reviews` decisions."""
    rows = []
    decided = outcomes[(outcomes["hardship"] == hardship) & outcomes["confirmed"].notna()]
    for band in _BANDS:
        inside = decided[decided["band"] == band]
        n_flagged = (
            int(
                flagged.loc[
                    (flagged["hardship"] == hardship) & (flagged["band"] == band), "flagged"
                ].sum()
            )
            if flagged is not None and len(flagged)
            else 0
        )
        reviewed = len(inside)
        confirmed = int(inside["confirmed"].astype(bool).sum())
        rows.append(
            {
                "band": band,
                "flagged": n_flagged,
                "reviewed": reviewed,
                "confirmed": confirmed,
                "precision": confirmed / reviewed if reviewed else np.nan,
                "confirmed_share_of_flagged": confirmed / n_flagged if n_flagged else np.nan,
                "enough": reviewed >= min_reviews,
            }
        )
    return pd.DataFrame(rows)


def model_card_section(table: pd.DataFrame, *, min_reviews: int = 20) -> str:
    """The model card's "Human-confirmed precision" section (markdown)."""
    lines = [
        "## Human-confirmed precision",
        "",
        "Reviewers' decisions on flagged children (preventive support or monitoring = confirmed; "
        "the FY2025 demonstration confirmed 852 of 2,475, 34 %). Reviewers see flagged children "
        "only, so this measures precision within the bands, never recall.",
        "",
    ]
    if table.empty or int(table["reviewed"].sum()) == 0:
        return "\n".join([*lines, "No reviews recorded yet."])
    lines += [
        "| band | flagged | reviewed | confirmed | precision | confirmed / flagged |",
        "|---|---|---|---|---|---|",
    ]
    for row in table.itertuples(index=False):
        precision = (
            f"{row.precision:.1%}"
            if row.reviewed >= min_reviews
            else f"(fewer than {min_reviews} reviews)"
        )
        share = (
            f"{row.confirmed_share_of_flagged:.1%}"
            if not np.isnan(row.confirmed_share_of_flagged)
            else "-"
        )
        lines.append(
            f"| {row.band} | {row.flagged:,} | {row.reviewed:,} | {row.confirmed:,} | "
            f"{precision} | {share} |"
        )
    return "\n".join(lines)
