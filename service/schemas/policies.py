"""API schemas of the threshold policy routes (/v1/policies/...).

The policy itself (`ThresholdPolicy`, `BandRule`) is the domain object in service/thresholds:
it is a pure value with its own validation, so the API accepts it as it is rather than
mirroring it field by field.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from service.thresholds import BandName, ThresholdPolicy

__all__ = [
    "BandCutOut",
    "BandSimulationOut",
    "PeriodOutcome",
    "PolicyChange",
    "PolicyReport",
    "PolicyVersionOut",
    "SimulationReport",
    "SimulationRequest",
]

_MONTH = r"^\d{4}-(0[1-9]|1[0-2])$"
_DEFAULT_BANDS: dict[str, Any] = {
    "high": {"capacity_share": 0.025},
    "moderate": {"capacity_share": 0.05},
    "watch": {"capacity_share": 0.10},
}


class PolicyVersionOut(BaseModel):
    version: int | None = Field(
        description="Stored version number; null for the built-in default policy.", examples=[3]
    )
    bands: ThresholdPolicy
    created_at: dt.datetime | None = None
    created_by: str | None = Field(default=None, description="The key name that made the change.")
    reason: str | None = None


class BandCutOut(BaseModel):
    band: BandName
    rule: str = Field(examples=["capacity_share 0.025"])
    cut: float | None = Field(
        description="Probability at or above which a child is in this band (or a stricter one); "
        "null when the band is empty this month."
    )
    clamped: bool = Field(
        default=False,
        description="The rule would have put this band above a stricter one, so it is empty.",
    )


class PolicyReport(BaseModel):
    """The policy in force, its cuts on the latest month, and every stored version."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "hardship": "abuse",
                    "municipality": "990001",
                    "current": {
                        "version": None,
                        "bands": _DEFAULT_BANDS,
                        "created_at": None,
                        "created_by": None,
                        "reason": None,
                    },
                    "month": "2026-03",
                    "model_version": "3",
                    "cuts": [
                        {"band": "high", "rule": "capacity_share 0.025", "cut": 0.061},
                        {"band": "moderate", "rule": "capacity_share 0.05", "cut": 0.034},
                        {"band": "watch", "rule": "capacity_share 0.1", "cut": 0.019},
                    ],
                    "history": [],
                }
            ]
        }
    )

    hardship: str
    municipality: str
    current: PolicyVersionOut
    month: str | None = Field(default=None, description="The month the cuts are resolved on.")
    model_version: str | None = None
    cuts: list[BandCutOut] = Field(
        default_factory=list, description="Empty when the hardship's model is not loaded."
    )
    history: list[PolicyVersionOut] = Field(description="Stored versions, newest first.")


class PolicyChange(BaseModel):
    """A new policy version; the reason is kept with it for good."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "bands": {
                        "high": {"capacity_count": 40},
                        "moderate": {"capacity_share": 0.05},
                        "watch": {"probability": 0.02},
                    },
                    "reason": "要対協 can review 40 children a month from April",
                }
            ]
        },
    )

    bands: ThresholdPolicy
    reason: str = Field(min_length=3, max_length=2000, description="Why the policy changes.")


class SimulationRequest(BaseModel):
    """A proposed policy to try out; nothing is stored."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "bands": {
                        "high": {"target_recall": 0.3},
                        "moderate": {"capacity_share": 0.05},
                        "watch": {"capacity_share": 0.1},
                    },
                    "month": "2026-03",
                }
            ]
        },
    )

    bands: ThresholdPolicy
    month: str | None = Field(
        default=None, pattern=_MONTH, description="As-of month to count children at (latest)."
    )


class PeriodOutcome(BaseModel):
    """What the band would have held on the model's test period (this municipality)."""

    children: int = Field(description="Not-yet-supported child-months in the band.")
    onsets: int = Field(description="Of those, with an onset within the label horizon.")
    recall: float | None = Field(
        description="Share of the period's onsets found by this band alone (null: no onsets)."
    )
    precision: float | None = Field(
        description="Share of the band's labelled child-months with an onset (null: empty)."
    )
    cumulative_recall: float | None = Field(
        description="Recall of this band and every stricter one together."
    )
    cumulative_precision: float | None = None


class BandSimulationOut(BaseModel):
    band: BandName
    rule: str
    cut: float | None = Field(description="The probability cut at the month (null: empty).")
    clamped: bool = False
    children: int = Field(description="Children not yet supported in the band at the month.")
    already_supported: int = Field(
        description="Children already supported (顕在層) at or above the cut, reported apart."
    )
    test_period: PeriodOutcome


class SimulationReport(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "hardship": "abuse",
                    "municipality": "990001",
                    "month": "2026-03",
                    "model_version": "3",
                    "test_period": "2024-11..2025-10",
                    "test_onsets": 23,
                    "bands": [
                        {
                            "band": "high",
                            "rule": "target_recall 0.3",
                            "cut": 0.052,
                            "clamped": False,
                            "children": 31,
                            "already_supported": 4,
                            "test_period": {
                                "children": 402,
                                "onsets": 7,
                                "recall": 0.304,
                                "precision": 0.017,
                                "cumulative_recall": 0.304,
                                "cumulative_precision": 0.017,
                            },
                        }
                    ],
                }
            ]
        }
    )

    hardship: str
    municipality: str
    month: str
    model_version: str | None
    test_period: str = Field(description="The model's test months (first..last).")
    test_onsets: int = Field(
        description="Onsets among the municipality's not-yet-supported children in the test "
        "period: what recall is a share of."
    )
    bands: list[BandSimulationOut]
