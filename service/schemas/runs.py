"""API schemas of score runs, their drift, the case-conference list and a child's history."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ChildHistory",
    "ChildHistoryEntry",
    "DriftFlag",
    "DriftLevel",
    "DriftReport",
    "FlaggedChild",
    "FlaggedList",
    "MissingRate",
    "PsiEntry",
    "Reason",
    "RunDetail",
    "RunList",
    "RunSummary",
]

DriftLevel = Literal["stable", "moderate", "major"]
RunStatus = Literal["running", "succeeded", "failed", "abandoned"]


class PsiEntry(BaseModel):
    psi: float | None = Field(description="Population stability index (null: not measurable).")
    level: DriftLevel


class MissingRate(BaseModel):
    current: float | None = Field(description="Share of this run's children missing the source.")
    reference: float | None = Field(description="The same share in the training months.")
    change: float | None


class DriftFlag(BaseModel):
    kind: Literal["feature", "score"]
    name: str = Field(description="A feature name, or a hardship for score drift.")
    psi: float | None
    level: DriftLevel


class DriftReport(BaseModel):
    """PSI per feature against the training months and per hardship's scores against the test
    period; >= 0.1 moderate, >= 0.2 major."""

    reference: dict[str, str | int | list[str]] = Field(
        description="Where the reference came from (periods, model versions)."
    )
    rows: dict[str, int] = Field(description="Feature rows compared: reference and current.")
    thresholds: dict[str, float]
    features: dict[str, PsiEntry]
    scores: dict[str, PsiEntry]
    missing: dict[str, MissingRate] = Field(description="Per source (missing_<source>).")
    flags: list[DriftFlag] = Field(description="Moderate and major drift, worst first.")


class RunSummary(BaseModel):
    id: int
    as_of_month: str = Field(examples=["2026-03"])
    status: RunStatus
    started_at: dt.datetime
    finished_at: dt.datetime | None
    children: int | None = Field(description="Children scored (each for every hardship).")
    model_versions: dict[str, str] = Field(examples=[{"abuse": "3", "poverty": "2"}])
    policy_versions: dict[str, int | None] | None = Field(
        default=None,
        description="'<hardship>/<municipality>' -> policy version (null: the default policy).",
    )
    drift_flags: int | None = Field(
        default=None, description="How many features or scores drifted (moderate or major)."
    )
    error: str | None = Field(default=None, description="Why a failed run failed.")


class RunDetail(RunSummary):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 7,
                    "as_of_month": "2026-03",
                    "status": "succeeded",
                    "started_at": "2026-04-01T02:00:00Z",
                    "finished_at": "2026-04-01T02:03:10Z",
                    "children": 98116,
                    "model_versions": {"abuse": "3"},
                    "policy_versions": {"abuse/990001": 2},
                    "drift_flags": 1,
                    "error": None,
                    "drift": {
                        "reference": {"train": "2022-04..2024-03", "test": "2024-11..2025-10"},
                        "rows": {"reference": 1200000, "current": 98116},
                        "thresholds": {"moderate": 0.1, "major": 0.2},
                        "features": {"absence_days_3m": {"psi": 0.23, "level": "major"}},
                        "scores": {"abuse": {"psi": 0.04, "level": "stable"}},
                        "missing": {
                            "attendance": {"current": 0.31, "reference": 0.08, "change": 0.23}
                        },
                        "flags": [
                            {
                                "kind": "feature",
                                "name": "absence_days_3m",
                                "psi": 0.23,
                                "level": "major",
                            }
                        ],
                    },
                }
            ]
        }
    )

    drift: DriftReport | None = Field(default=None, description="Null until the run succeeds.")


class RunList(BaseModel):
    runs: list[RunSummary] = Field(description="Newest first.")


class Reason(BaseModel):
    feature: str = Field(examples=["absence_nonillness_days_3m"])
    label_ja: str | None = Field(default=None, examples=["直近3か月の病欠以外の欠席日数"])
    value: float | str | None = Field(
        description="The child's value (a category's name; null: the source is missing)."
    )
    contribution: float = Field(description="Log-odds this feature added to the score.")


class FlaggedChild(BaseModel):
    child_id: str
    hardship: str
    band: str
    probability: float
    percentile: float = Field(
        description="% of the municipality's children that month with a lower probability."
    )
    reason: str = Field(
        description="One line for the case conference, from the top stored reasons.",
        examples=["直近3か月の病欠以外の欠席日数 12 (+0.84)"],
    )
    reasons: list[Reason]


class FlaggedList(BaseModel):
    """The case-conference list: children not yet supported first, the 顕在層 apart."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "municipality": "990001",
                    "run_id": 7,
                    "as_of_month": "2026-03",
                    "hardship": "truancy",
                    "band": None,
                    "children": [
                        {
                            "child_id": "00a32dd4579f11c6060cfb7c",
                            "hardship": "truancy",
                            "band": "high",
                            "probability": 0.31,
                            "percentile": 99.5,
                            "reason": "直近3か月の病欠以外の欠席日数 12 (+0.84)",
                            "reasons": [
                                {
                                    "feature": "absence_nonillness_days_3m",
                                    "label_ja": "直近3か月の病欠以外の欠席日数",
                                    "value": 12.0,
                                    "contribution": 0.84,
                                }
                            ],
                        }
                    ],
                    "already_supported": [],
                    "total_children": 1,
                    "total_already_supported": 0,
                    "limit": 1000,
                }
            ]
        }
    )

    municipality: str
    run_id: int
    as_of_month: str
    hardship: str | None = Field(description="The hardship asked for (null: every hardship).")
    band: str | None = Field(description="The band asked for (null: every band).")
    children: list[FlaggedChild] = Field(description="Not yet supported, highest first.")
    already_supported: list[FlaggedChild] = Field(
        description="Already supported (顕在層), listed apart, highest first."
    )
    total_children: int = Field(description="Flagged children not yet supported in the run.")
    total_already_supported: int = Field(
        description="Already-supported children at or above a band's cut in the run."
    )
    limit: int = Field(description="At most this many children per list were returned.")


class ChildHistoryEntry(BaseModel):
    run_id: int
    as_of_month: str
    hardship: str
    municipality: str
    probability: float
    percentile: float = Field(description="% of the municipality's children scoring lower.")
    band: str | None
    already_supported: bool
    model_version: str


class ChildHistory(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "child_id": "00a32dd4579f11c6060cfb7c",
                    "scores": [
                        {
                            "run_id": 6,
                            "as_of_month": "2026-02",
                            "hardship": "truancy",
                            "municipality": "990001",
                            "probability": 0.22,
                            "percentile": 98.0,
                            "band": "moderate",
                            "already_supported": False,
                            "model_version": "3",
                        }
                    ],
                }
            ]
        }
    )

    child_id: str
    scores: list[ChildHistoryEntry] = Field(description="Oldest month first, per hardship.")
