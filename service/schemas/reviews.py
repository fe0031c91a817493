"""API schemas of the review feedback loop: a reviewer's decision, the summary, a child's
earlier reviews and scores."""

from __future__ import annotations

import datetime as dt
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from service.schemas.runs import ChildHistoryEntry

__all__ = [
    "NOTE_MAX_CHARS",
    "BandMonthSummary",
    "ChildReviews",
    "Decision",
    "NoActionReason",
    "ReferenceFunnel",
    "RejectedFeature",
    "ReviewIn",
    "ReviewOut",
    "ReviewSummary",
]

NOTE_MAX_CHARS = 500
Decision = Literal["preventive_support", "monitoring", "no_action", "needs_information"]
NoActionReason = Literal[
    "already_supported_elsewhere", "data_error", "over_influential_item", "other"
]


class ReviewIn(BaseModel):
    """One decision on one flagged child and hardship: recording it is one small request."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "child_id": "00a32dd4579f11c6060cfb7c",
                    "hardship": "truancy",
                    "decision": "monitoring",
                },
                {
                    "child_id": "00a32dd4579f11c6060cfb7c",
                    "hardship": "poverty",
                    "decision": "no_action",
                    "reason": "already_supported_elsewhere",
                    "note": "生活困窮者自立支援で対応中",
                },
            ]
        },
    )

    child_id: str = Field(min_length=1, max_length=64)
    hardship: str = Field(examples=["truancy"])
    decision: Decision
    reason: NoActionReason | None = Field(
        default=None, description="Required when the decision is no_action, refused otherwise."
    )
    note: str | None = Field(
        default=None,
        max_length=NOTE_MAX_CHARS,
        description="A short free note (no names or addresses: it is shown in reports).",
    )
    run_id: int | None = Field(
        default=None,
        ge=1,
        description="The run whose flag is reviewed (default: the latest succeeded run that "
        "scored the child for the hardship).",
    )

    @model_validator(mode="after")
    def _reason_goes_with_no_action(self) -> Self:
        if self.decision == "no_action" and self.reason is None:
            raise ValueError("reason is required when the decision is no_action")
        if self.decision != "no_action" and self.reason is not None:
            raise ValueError("reason is given only with the decision no_action")
        if self.note is not None and not self.note.strip():
            self.note = None
        return self


class ReviewOut(BaseModel):
    id: int
    child_id: str
    hardship: str
    municipality: str
    run_id: int | None
    as_of_month: str | None = Field(description="The month of the run reviewed.")
    band: str | None = Field(description="The child's band in that run (null: not banded).")
    decision: Decision
    reason: NoActionReason | None
    note: str | None
    reviewer_key_id: str
    created_at: dt.datetime


class BandMonthSummary(BaseModel):
    as_of_month: str
    band: str
    flagged: int = Field(description="Children in the band, not yet supported, in the month's run.")
    reviewed: int = Field(description="Of those, children with a decision (the latest counts).")
    confirmed: int = Field(description="Decided preventive_support or monitoring.")
    rejected: int = Field(description="Decided no_action.")
    needs_information: int
    confirmed_share: float | None = Field(
        description="confirmed / flagged: the FY2025 funnel's measure (852 / 2,475)."
    )
    confirmed_share_of_reviewed: float | None = Field(description="confirmed / reviewed.")


class RejectedFeature(BaseModel):
    feature: str
    label_ja: str | None
    children: int = Field(description="Rejected children whose stored reasons raise it.")
    share: float = Field(description="children / all rejected children with stored reasons.")
    mean_contribution: float = Field(description="Mean log-odds it added to their scores.")


class ReferenceFunnel(BaseModel):
    flagged: int = 2475
    confirmed: int = 852
    confirmed_share: float = round(852 / 2475, 4)
    source: str = "FY2025 demonstration: 2,475 children flagged, 852 confirmed by human review"


class ReviewSummary(BaseModel):
    municipality: str | None
    hardship: str | None
    month: str | None
    bands: list[BandMonthSummary] = Field(description="Per month (newest first) and band.")
    totals: BandMonthSummary | None = Field(description="All months and bands together.")
    outside_runs: int = Field(description="Reviews recorded without a run (not in the bands).")
    rejection_reasons: dict[str, int] = Field(description="no_action reasons and their counts.")
    rejected_features: list[RejectedFeature] = Field(
        description="Features that most often raised the scores of children reviewers rejected."
    )
    reference: ReferenceFunnel = Field(default_factory=ReferenceFunnel)


class ChildReviews(BaseModel):
    child_id: str
    reviews: list[ReviewOut] = Field(description="Newest first.")
    scores: list[ChildHistoryEntry] = Field(
        description="Stored scores across runs, school stages and moves, oldest first."
    )
