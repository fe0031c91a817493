"""API schemas shared by every router: error bodies and health, model and admin documents.

Schemas are the API's edge only; rows live in service/store and domain objects beside the code
that uses them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ComponentStatus",
    "DisclosureAuditEntry",
    "DisclosureBundle",
    "DisclosureReview",
    "DisclosureScore",
    "DisclosureSourceRecord",
    "ErrorBody",
    "ErrorDetail",
    "HealthStatus",
    "InfluentialFeature",
    "ModelInfo",
    "ModelsReport",
    "ReadinessReport",
    "ReloadReport",
    "ValidationErrorBody",
    "ValidationErrorItem",
]


class ErrorDetail(BaseModel):
    message: str = Field(description="What went wrong, without any personal data.")
    field: str | None = Field(
        default=None, description="The header, parameter or body field at fault, if one is."
    )


class ErrorBody(BaseModel):
    """Every error but a validation error."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"detail": {"message": "missing or invalid API key", "field": "X-API-Key"}}
            ]
        }
    )

    detail: ErrorDetail


class ValidationErrorItem(BaseModel):
    loc: list[str | int] = Field(description='Where: ["body", "child_ids", 3], ["header", ...].')
    msg: str
    type: str


class ValidationErrorBody(BaseModel):
    """422: the request did not parse or validate. The submitted values are not echoed."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "detail": [
                        {"loc": ["body", 0], "msg": "JSON decode error", "type": "json_invalid"}
                    ]
                }
            ]
        }
    )

    detail: list[ValidationErrorItem]


class HealthStatus(BaseModel):
    status: str = Field(examples=["ok"])


class ComponentStatus(BaseModel):
    ready: bool
    version: str | None = Field(default=None, description="Registered model version, if loaded.")
    reason: str | None = Field(default=None, description="Why it is not ready.")


class ReadinessReport(BaseModel):
    """200 only when the database answers and every hardship's model is loaded; else 503."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "ready": False,
                    "database": {"ready": True, "version": None, "reason": None},
                    "models": {
                        "abuse": {"ready": True, "version": "3", "reason": None},
                        "poverty": {
                            "ready": False,
                            "version": None,
                            "reason": "no champion registered for mimamori-poverty",
                        },
                    },
                }
            ]
        }
    )

    ready: bool
    database: ComponentStatus
    models: dict[str, ComponentStatus]


class ReloadReport(BaseModel):
    """Champions after a reload; a hardship whose load failed keeps its previous version."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"ready": True, "versions": {"abuse": "4", "poverty": "2"}, "models": {}}]
        }
    )

    ready: bool
    versions: dict[str, str | None]
    models: dict[str, ComponentStatus]


class InfluentialFeature(BaseModel):
    feature: str = Field(examples=["welfare_consultations_12m"])
    label_ja: str = Field(examples=["福祉相談の回数(12か月)"])
    share: float | None = Field(
        default=None, description="Share of the model's total influence (mean |SHAP|)."
    )


class ModelInfo(BaseModel):
    """The champion serving one hardship, from its bundle's training metadata."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "hardship": "abuse",
                    "label_ja": "虐待",
                    "version": "3",
                    "ready": True,
                    "reason": None,
                    "periods": {"train": ["2022-04", "2024-09"], "test": ["2025-04", "2025-09"]},
                    "label_horizon_months": 6,
                    "test_metrics": {"roc_auc": 0.84, "average_precision": 0.21},
                    "over_influence_share": 0.5,
                    "over_influence_max_share": 0.18,
                    "flagged_features": [],
                    "top_influence": [],
                }
            ]
        }
    )

    hardship: str
    label_ja: str | None = None
    version: str | None = None
    ready: bool
    reason: str | None = None
    periods: dict[str, Any] | None = Field(
        default=None, description="Train, validation, calibration and test months."
    )
    label_horizon_months: int | None = None
    test_metrics: dict[str, Any] | None = Field(
        default=None, description="Measured on the held-out test period at training time."
    )
    over_influence_share: float = Field(
        description="The share of influence above which a feature is flagged (service setting)."
    )
    over_influence_max_share: float | None = Field(
        default=None, description="The largest share of influence any one feature carries."
    )
    flagged_features: list[InfluentialFeature] = Field(
        default_factory=list,
        description="Features found over-influential by training's audit: a reviewer should "
        "not let one of these alone decide.",
    )
    top_influence: list[InfluentialFeature] = Field(default_factory=list)


class ModelsReport(BaseModel):
    models: list[ModelInfo]


class DisclosureSourceRecord(BaseModel):
    id: int
    municipality: str
    source: str
    line: int
    id_kind: str
    local_id: str
    event_date: dt.date
    known_date: dt.date
    payload: dict[str, Any]


class DisclosureScore(BaseModel):
    run_id: int
    hardship: str
    municipality: str
    probability: float
    percentile: float
    band: str | None
    already_supported: bool
    model_version: str
    reasons: list[Any] | None


class DisclosureReview(BaseModel):
    id: int
    hardship: str
    municipality: str
    run_id: int | None
    band: str | None
    decision: str
    reason: str | None
    note: str | None
    reviewer_key_id: str
    created_at: dt.datetime


class DisclosureAuditEntry(BaseModel):
    seq: int
    at: dt.datetime
    key_id: str | None
    role: str | None
    purpose: str | None
    method: str
    route: str
    municipality: str | None
    status_code: int
    outcome: str
    detail: str | None


class DisclosureBundle(BaseModel):
    """Everything Mimamori holds on one child (開示請求), as stored."""

    child_id: str
    municipality: str
    generated_at: dt.datetime
    person: dict[str, Any] | None = Field(description="The linked person master row.")
    source_records: list[DisclosureSourceRecord] = Field(
        description="Every departmental record linked to the child, as ingested."
    )
    features: list[dict[str, Any]] = Field(
        description="The child's feature rows, one per as-of month (missing values are null)."
    )
    labels: list[dict[str, Any]] = Field(description="The child's training labels per month.")
    scores: list[DisclosureScore]
    reviews: list[DisclosureReview]
    audit_entries: list[DisclosureAuditEntry] = Field(
        description="Every earlier request that touched or tried to touch the child."
    )
