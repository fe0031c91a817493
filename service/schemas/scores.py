"""API schemas of the scoring routes: scores, explanations, what-if and model flags.

Requests are validated by these models. Responses are built by the routes as plain data and
serialised once (the route returns the bytes), and these models document them in OpenAPI; a
test validates real responses against them so that the two cannot drift apart.
"""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    field_validator,
    model_validator,
)

from models.hardships import load_hardship_registry
from service.schemas.common import InfluentialFeature

__all__ = [
    "ChildRef",
    "ChildResult",
    "Explanation",
    "Factor",
    "FeaturePayload",
    "FeatureValue",
    "HardshipScore",
    "ModelFlags",
    "ModelFlagsReport",
    "OverInfluence",
    "ScoreRequest",
    "ScoreResponse",
    "WhatIfHardship",
    "WhatIfRequest",
    "WhatIfResponse",
]

MONTH_PATTERN = r"^\d{4}-(0[1-9]|1[0-2])$"
MAX_TOP_K = 20

# Strict, so that "3" is not silently read as 3 nor true as 1.0: the payload checker decides
# what each feature accepts and names the field when it refuses.
FeatureValue = StrictBool | StrictInt | StrictFloat | StrictStr | None
Month = Annotated[str, Field(pattern=MONTH_PATTERN, examples=["2026-03"])]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _known_hardships(names: list[str] | None) -> list[str] | None:
    if names is None:
        return None
    known = load_hardship_registry().ids
    for index, name in enumerate(names):
        if name not in known:
            raise ValueError(
                f"unknown hardship {name!r} at index {index}; known: {', '.join(known)}"
            )
    if len(set(names)) != len(names):
        raise ValueError("a hardship is listed twice")
    return names


class ChildRef(_Request):
    child_id: str = Field(
        min_length=1, max_length=64, description="The child's pseudonymous id (child master)."
    )
    as_of_month: Month | None = Field(
        default=None, description="As-of month of the features; default: the latest loaded."
    )


class FeaturePayload(_Request):
    municipality: str = Field(
        pattern=r"^\d{6}$",
        description="The child's municipality code: percentiles and bands are that municipality's.",
        examples=["990001"],
    )
    as_of_month: Month | None = Field(
        default=None, description="The month whose population places the percentile."
    )
    features: dict[str, FeatureValue] = Field(
        description="Feature values by catalogue name. A feature not sent is scored as "
        "missing (and listed in the result); null means missing too."
    )


_SCORE_EXAMPLES: list[JsonValue] = [
    {
        "children": [{"child_id": "00a32dd4579f11c6060cfb7c", "as_of_month": "2026-03"}],
        "hardships": ["abuse", "truancy"],
        "explain": True,
        "top_k": 3,
    },
    {
        "payloads": [
            {
                "municipality": "990001",
                "features": {"age_months": 130, "absence_days_3m": 14, "single_parent": 1},
            }
        ],
        "explain": False,
    },
]


class ScoreRequest(_Request):
    """Either stored children by id or vendors' feature payloads, not both."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": _SCORE_EXAMPLES})

    children: list[ChildRef] | None = Field(default=None, min_length=1)
    payloads: list[FeaturePayload] | None = Field(default=None, min_length=1)
    hardships: list[str] | None = Field(
        default=None, description="A subset of hardships; default: every hardship served."
    )
    explain: bool = Field(default=False, description="Add the top factors of each score.")
    top_k: int = Field(default=5, ge=1, le=MAX_TOP_K, description="Factors per explanation.")

    _hardships = field_validator("hardships")(_known_hardships)

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        if (self.children is None) == (self.payloads is None):
            raise ValueError("send either children or payloads")
        return self

    @property
    def size(self) -> int:
        return len(self.children or self.payloads or [])


class Factor(BaseModel):
    feature: str = Field(examples=["absence_nonillness_days_3m"])
    label_ja: str = Field(examples=["直近3か月の病気以外の欠席日数"])
    description: str
    value: float | str | None = Field(description="The child's value; null when missing.")
    value_text: str = Field(description="The value in words; says so when it is missing.")
    missing: bool
    direction: Literal["raises", "lowers"]
    log_odds: float = Field(description="TreeSHAP contribution to the model's log-odds.")
    share_of_raise: float | None = Field(
        description="Share of everything that raised this score (null for a lowering factor)."
    )


class OverInfluence(BaseModel):
    """One feature carries more than the configured share of what raised the score."""

    feature: str
    label_ja: str
    share: float
    message_ja: str
    message_en: str


class Explanation(BaseModel):
    base_log_odds: float = Field(description="The model's expected log-odds (TreeSHAP bias).")
    base_probability: float = Field(description="That base rate after calibration.")
    log_odds: float = Field(description="This child's log-odds: base plus every contribution.")
    factors: list[Factor]
    over_influence: OverInfluence | None
    model_flagged_features: list[str] = Field(
        description="Features training's audit found over-influential in this model overall."
    )


class HardshipScore(BaseModel):
    probability: float = Field(description="Calibrated probability within the label horizon.")
    percentile: float | None = Field(
        description="Per cent of the municipality's children that month with a lower "
        "probability (null if the municipality has none that month)."
    )
    band: str | None = Field(description="high, moderate, watch, or null (below every band).")
    already_supported: bool | None = Field(
        description="Already known to support services (null for a payload)."
    )
    model_version: str
    explanation: Explanation | None = None


class ChildResult(BaseModel):
    index: int = Field(description="Position of the child or payload in the request.")
    child_id: str | None = Field(description="Null for a payload.")
    as_of_month: str
    municipality: str
    scores: dict[str, HardshipScore]
    missing_features: list[str] = Field(
        default_factory=list, description="Payload features not sent, scored as missing."
    )


class ScoreResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "hardships": ["abuse"],
                    "unavailable": {},
                    "results": [
                        {
                            "index": 0,
                            "child_id": "00a32dd4579f11c6060cfb7c",
                            "as_of_month": "2026-03",
                            "municipality": "990001",
                            "missing_features": [],
                            "scores": {
                                "abuse": {
                                    "probability": 0.031,
                                    "percentile": 97.2,
                                    "band": "high",
                                    "already_supported": False,
                                    "model_version": "3",
                                    "explanation": None,
                                }
                            },
                        }
                    ],
                }
            ]
        }
    )

    hardships: list[str] = Field(description="The hardships scored.")
    unavailable: dict[str, str] = Field(
        default_factory=dict,
        description="Hardships left out because no model serves them, with the reason.",
    )
    results: list[ChildResult]


class WhatIfRequest(_Request):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "as_of_month": "2026-03",
                    "changes": {"absence_nonillness_days_3m": 0, "school_aid_current": 1},
                    "hardships": ["truancy", "poverty"],
                }
            ]
        },
    )

    as_of_month: Month | None = None
    changes: dict[str, FeatureValue] = Field(
        min_length=1, description="Feature values to try instead of the stored ones."
    )
    hardships: list[str] | None = None
    top_k: int = Field(default=5, ge=1, le=MAX_TOP_K)

    _hardships = field_validator("hardships")(_known_hardships)


class WhatIfHardship(BaseModel):
    original: HardshipScore
    changed: HardshipScore
    probability_change: float


class WhatIfResponse(BaseModel):
    """Nothing is stored: the changed row exists only for this answer."""

    child_id: str
    as_of_month: str
    municipality: str
    changed_features: list[str]
    unavailable: dict[str, str] = Field(default_factory=dict)
    results: dict[str, WhatIfHardship]


class ModelFlags(BaseModel):
    hardship: str
    model_version: str
    over_influence_max_share: float | None
    flagged_features: list[InfluentialFeature]
    top_influence: list[InfluentialFeature]


class ModelFlagsReport(BaseModel):
    over_influence_share: float = Field(
        description="Per-score flag: one feature above this share of what raised the score."
    )
    models: list[ModelFlags]
