"""Labels per hardship: onsets seen in the extracts within a horizon, and who is supported."""

from features.labels.builder import LabelBuildError, build_labels, derive_onsets, observed_until_of
from features.labels.definitions import (
    HardshipDefinition,
    LabelDefinitions,
    load_label_definitions,
)
from features.labels.rules import RULES, Observation, RuleContext, rule

__all__ = [
    "RULES",
    "HardshipDefinition",
    "LabelBuildError",
    "LabelDefinitions",
    "Observation",
    "RuleContext",
    "build_labels",
    "derive_onsets",
    "load_label_definitions",
    "observed_until_of",
    "rule",
]
