"""The training configuration (config.yaml next to this module), validated.

config = load_training_config()                 # the packaged defaults
config = load_training_config("my-config.yaml")  # or a file of one's own
config = config.model_copy(update={"capacity": 0.05})
"""

from __future__ import annotations

import hashlib
import json
import os
from importlib import resources
from pathlib import Path
from typing import Any, Final, Literal, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

__all__ = [
    "CONFIG_RESOURCE",
    "AuditConfig",
    "Bars",
    "CalibrationConfig",
    "ClassBalance",
    "ConfigError",
    "EvaluationConfig",
    "FeatureSelection",
    "LightGBMConfig",
    "PromotionGates",
    "SplitConfig",
    "TrainingConfig",
    "TuningConfig",
    "load_training_config",
    "parse_training_config",
]

CONFIG_RESOURCE: Final = "config.yaml"


class ConfigError(ValueError):
    """The training configuration is invalid; the message says where."""


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FeatureSelection(_Model):
    exclude: tuple[str, ...] = ("municipality",)


class SplitConfig(_Model):
    test_end: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}$")
    test_months: int = Field(default=12, ge=1)
    validation_months: int = Field(default=12, ge=1)
    gap_months: int | None = Field(default=None, ge=0)
    holdout_fraction: float = Field(default=0.3, gt=0.0, lt=1.0)
    train_month_stride: int = Field(default=1, ge=1)
    seed: int = 0


class ClassBalance(_Model):
    negative_rate: float = Field(default=1.0, gt=0.0, le=1.0)
    scale_pos_weight: float = Field(default=1.0, gt=0.0)


class LightGBMConfig(_Model):
    params: dict[str, Any] = Field(default_factory=dict)
    max_rounds: int = Field(default=150, ge=1)
    early_stopping_rounds: int = Field(default=20, ge=1)
    # After early stopping has chosen the number of trees, fit again with that many trees on the
    # training and early-stopping rows together (calibration and test rows stay unseen).
    refit_with_early_stopping_rows: bool = False

    @model_validator(mode="after")
    def _binary(self) -> Self:
        objective = self.params.get("objective", "binary")
        if objective != "binary":
            raise ValueError(f"the objective must be binary, not {objective!r}")
        return self


class TuningConfig(_Model):
    enabled: bool = False
    n_trials: int = Field(default=20, ge=1)
    timeout_seconds: float = Field(default=300.0, gt=0.0)
    max_num_leaves: int = Field(default=15, ge=2)


class CalibrationConfig(_Model):
    method: Literal["platt", "isotonic"] = "platt"
    ece_bins: int = Field(default=15, ge=2)


class EvaluationConfig(_Model):
    leave_one_municipality_out: bool = True
    fairness_attributes: tuple[str, ...] = ("sex", "foreign", "single_parent", "municipality")


class AuditConfig(_Model):
    max_share: float = Field(default=0.35, gt=0.0, le=1.0)
    municipality_spread: float = Field(default=4.0, gt=1.0)
    min_share: float = Field(default=0.10, ge=0.0, le=1.0)
    max_rows: int = Field(default=20000, ge=100)
    ablate: bool = True
    max_ablations: int = Field(default=3, ge=0)


class Bars(_Model):
    roc_auc_ratio_to_oracle: float = 0.95
    recall_ratio_to_oracle: float = 0.9
    max_ece: float = 0.02


class PromotionGates(_Model):
    """What a challenger must show to replace the champion (`training.registry.promote`)."""

    roc_auc_tolerance: float = Field(default=0.005, ge=0.0)
    recall_tolerance: float = Field(default=0.02, ge=0.0)
    max_ece: float = Field(default=0.02, gt=0.0)


class ReviewsConfig(_Model):
    """How training uses reviewers' decisions (training/reviews.py says why evaluation only)."""

    use: Literal["off", "evaluation", "labels"] = "evaluation"
    min_reviews: int = Field(default=20, ge=1)


class TrainingConfig(_Model):
    version: int = Field(default=1, ge=1)
    hardships: tuple[str, ...] | None = None
    experiment: str = "mimamori-training"
    label_horizon_months: int = Field(default=6, ge=1)
    features: FeatureSelection = FeatureSelection()
    splits: SplitConfig = SplitConfig()
    class_balance: ClassBalance = ClassBalance()
    exclude_already_supported: bool = True
    lightgbm: LightGBMConfig = LightGBMConfig()
    tuning: TuningConfig = TuningConfig()
    calibration: CalibrationConfig = CalibrationConfig()
    capacity: float = Field(default=0.025, gt=0.0, lt=1.0)
    threshold_capacities: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1)
    evaluation: EvaluationConfig = EvaluationConfig()
    audit: AuditConfig = AuditConfig()
    bars: Bars = Bars()
    gates: PromotionGates = PromotionGates()
    reviews: ReviewsConfig = ReviewsConfig()

    @property
    def gap_months(self) -> int:
        gap = self.splits.gap_months
        return self.label_horizon_months if gap is None else gap

    @model_validator(mode="after")
    def _gap_covers_horizon(self) -> Self:
        # A gap shorter than the horizon minus one would let a training row's label window
        # reach into the next period's months.
        if self.gap_months < self.label_horizon_months - 1:
            raise ValueError(
                f"splits.gap_months ({self.gap_months}) must be at least the label horizon "
                f"minus one ({self.label_horizon_months - 1}) so no label windows overlap"
            )
        return self

    def lightgbm_params(self) -> dict[str, Any]:
        params = {"objective": "binary", "verbosity": -1, **self.lightgbm.params}
        if self.class_balance.scale_pos_weight != 1.0:
            params["scale_pos_weight"] = self.class_balance.scale_pos_weight
        return params

    def digest(self) -> str:
        """A short hash of the whole configuration, logged with every run."""
        text = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def parse_training_config(text: bytes | str) -> TrainingConfig:
    try:
        return TrainingConfig.model_validate(yaml.safe_load(text) or {})
    except (yaml.YAMLError, ValidationError) as error:
        raise ConfigError(f"invalid training configuration: {error}") from error


def load_training_config(path: str | os.PathLike[str] | None = None) -> TrainingConfig:
    """The configuration in `path`, or the packaged config.yaml."""
    if path is None:
        text = resources.files("training").joinpath(CONFIG_RESOURCE).read_bytes()
    else:
        try:
            text = Path(path).read_bytes()
        except OSError as error:
            raise ConfigError(f"cannot read training configuration {path}: {error}") from error
    return parse_training_config(text)
