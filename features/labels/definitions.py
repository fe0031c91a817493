"""Hardship label definitions as data (definitions.yaml), validated; rules are looked up by name."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Any, Final, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

# The C loader when PyYAML has it: the pure-Python one takes about a second per catalogue.
_LOADER: Final = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

__all__ = [
    "DEFINITIONS_RESOURCE",
    "HardshipDefinition",
    "LabelDefinitions",
    "LabelDefinitionsError",
    "load_label_definitions",
    "parse_label_definitions",
]

DEFINITIONS_RESOURCE: Final = "definitions.yaml"


class LabelDefinitionsError(ValueError):
    """The label definitions are invalid; the message says where."""


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class HardshipDefinition(_Model):
    label_ja: str = Field(min_length=1)
    description: str = Field(min_length=1)
    rule: str
    sources: tuple[str, ...] = Field(min_length=1)
    params: dict[str, Any] = Field(default_factory=dict)
    lookback_months: int = Field(default=0, ge=0)
    left_censored: bool = False
    eligible_age_months: tuple[int, int] = (0, 216)

    @model_validator(mode="after")
    def _age_range(self) -> Self:
        low, high = self.eligible_age_months
        if not 0 <= low < high:
            raise ValueError(f"eligible_age_months must satisfy 0 <= from < to, not {low}, {high}")
        return self


class LabelDefinitions(_Model):
    version: int = Field(ge=1)
    default_horizon_months: int = Field(ge=1)
    hardships: dict[str, HardshipDefinition]

    @model_validator(mode="after")
    def _identifiers(self) -> Self:
        for name in self.hardships:
            if not name.replace("_", "").isalpha() or name != name.lower():
                raise ValueError(f"hardship identifier {name!r} must be snake_case English")
        return self


def parse_label_definitions(text: bytes) -> LabelDefinitions:
    try:
        return LabelDefinitions.model_validate(yaml.load(text, Loader=_LOADER))
    except (yaml.YAMLError, ValidationError) as error:
        raise LabelDefinitionsError(f"invalid label definitions: {error}") from error


@lru_cache(maxsize=1)
def load_label_definitions() -> LabelDefinitions:
    """The packaged definitions (read once per process, on first use)."""
    text = resources.files("features.labels").joinpath(DEFINITIONS_RESOURCE).read_bytes()
    return parse_label_definitions(text)
