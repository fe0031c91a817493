"""The feature catalogue: what every feature column means, where it comes from, and on what basis.

`features.yaml` next to this module lists the features; the loader adds each source's
department, system, purpose tag and legal basis from the source catalogue, so that a screening
by purpose (two-stage screening: school data first, welfare data only for those flagged) and
the explanations shown to staff read one definition. Nothing is read at import time.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from importlib import resources
from typing import Final, Literal, Self

import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from features.ingest.catalogue import Catalogue, LegalBasis, PurposeTag, load_catalogue
from features.timeline.records import OPTIONAL_ELEMENTS

# The C loader when PyYAML has it: the pure-Python one takes about a second per catalogue.
_LOADER: Final = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

__all__ = [
    "FEATURE_CATALOGUE_RESOURCE",
    "FeatureCatalogue",
    "FeatureCatalogueError",
    "FeatureSpec",
    "Unit",
    "load_feature_catalogue",
    "parse_feature_catalogue",
]

FEATURE_CATALOGUE_RESOURCE: Final = "features.yaml"
Unit = Literal[
    "months",
    "days",
    "count",
    "flag",
    "code",
    "kg",
    "kg_per_year",
    "z_score",
    "percent",
    "grams",
    "week",
    "score",
    "bracket",
]


class FeatureCatalogueError(ValueError):
    """The feature catalogue is invalid or does not match the source catalogue."""


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FeatureEntry(_Model):
    """One feature as written in features.yaml."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    label_ja: str = Field(min_length=1)
    description: str = Field(min_length=1)
    group: str
    source: str
    requires: tuple[str, ...] = ()
    holding: str | None = None
    unit: Unit
    always: bool = False
    indicator: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.always and self.indicator:
            raise ValueError(f"{self.name}: a child-master column is not an indicator")
        return self


class FeatureSpec(_Model):
    """A feature with what the source catalogue says about its sources."""

    name: str
    label_ja: str
    description: str
    group: str
    source: str
    requires: tuple[str, ...]
    holding: str
    unit: Unit
    always: bool
    indicator: bool
    department: str
    system: str | None
    purpose: PurposeTag
    legal_basis: LegalBasis
    # Purpose tags of the source and of every required source: all must be allowed.
    purposes: frozenset[PurposeTag]

    @property
    def sources(self) -> tuple[str, ...]:
        return (self.source, *self.requires)

    def allowed_under(self, purposes: Iterable[str] | None) -> bool:
        if purposes is None or self.always:
            return True
        return self.purposes <= set(purposes)


class FeatureCatalogue(_Model):
    version: int = Field(ge=1)
    features: tuple[FeatureSpec, ...]
    # Days after which the end of a spell (資格喪失, 取消) reaches the extract, per source.
    end_lag_days: dict[str, int]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features)

    def spec(self, name: str) -> FeatureSpec:
        for feature in self.features:
            if feature.name == name:
                return feature
        raise KeyError(name)

    def selected(self, purposes: Iterable[str] | None) -> tuple[FeatureSpec, ...]:
        """The features a build restricted to these purpose tags may emit (None: all)."""
        allowed = None if purposes is None else frozenset(purposes)
        return tuple(f for f in self.features if f.allowed_under(allowed))

    def sources_for(self, purposes: Iterable[str] | None) -> frozenset[str]:
        """The sources those features read: a screened build reads nothing else."""
        return frozenset(s for f in self.selected(purposes) if not f.always for s in f.sources)

    def to_frame(self) -> pd.DataFrame:
        """One row per feature, for documentation and the staff-facing explanation screens."""
        rows = [
            {
                "name": f.name,
                "label_ja": f.label_ja,
                "description": f.description,
                "unit": f.unit,
                "source": f.source,
                "requires": ", ".join(f.requires),
                "department": f.department,
                "system": f.system,
                "purpose": f.purpose,
                "legal_basis": f.legal_basis,
            }
            for f in self.features
        ]
        return pd.DataFrame(rows)


class _File(_Model):
    version: int = Field(ge=1)
    features: tuple[FeatureEntry, ...]


def parse_feature_catalogue(text: bytes, sources: Catalogue) -> FeatureCatalogue:
    """Validate feature-catalogue YAML against a source catalogue."""
    try:
        parsed = _File.model_validate(yaml.load(text, Loader=_LOADER))
    except (yaml.YAMLError, ValidationError) as error:
        raise FeatureCatalogueError(f"invalid feature catalogue: {error}") from error
    seen: set[str] = set()
    specs = []
    for entry in parsed.features:
        if entry.name in seen:
            raise FeatureCatalogueError(f"feature {entry.name!r} is listed twice")
        seen.add(entry.name)
        for source in (entry.source, *entry.requires):
            if source not in sources.sources:
                raise FeatureCatalogueError(f"{entry.name}: unknown source {source!r}")
        holding = entry.holding or entry.source
        if holding not in sources.sources and OPTIONAL_ELEMENTS.get(holding, ("",))[0] != (
            entry.source
        ):
            raise FeatureCatalogueError(
                f"{entry.name}: holding {holding!r} is neither a source nor an element of "
                f"{entry.source!r}"
            )
        spec = sources.sources[entry.source]
        specs.append(
            FeatureSpec(
                **entry.model_dump(exclude={"holding"}),
                holding=holding,
                department=spec.department,
                system=spec.system,
                purpose=spec.purpose,
                legal_basis=spec.legal_basis,
                purposes=frozenset(
                    sources.sources[s].purpose for s in (entry.source, *entry.requires)
                ),
            )
        )
    indicated = {f.holding for f in specs if f.indicator}
    # Registry data is the population itself: a resident child always has it.
    unflagged = [
        f
        for f in specs
        if not (f.indicator or f.always or f.holding in indicated or f.holding == "registry")
    ]
    if unflagged:
        raise FeatureCatalogueError(
            f"{unflagged[0].name}: no missing-source indicator for {unflagged[0].holding!r}"
        )
    lags = {source: spec.known_date.lag_days or 0 for source, spec in sources.sources.items()}
    return FeatureCatalogue(version=parsed.version, features=tuple(specs), end_lag_days=lags)


@lru_cache(maxsize=1)
def load_feature_catalogue() -> FeatureCatalogue:
    """The packaged feature catalogue joined with the packaged source catalogue (read once)."""
    text = resources.files("features.catalogue").joinpath(FEATURE_CATALOGUE_RESOURCE).read_bytes()
    return parse_feature_catalogue(text, load_catalogue())
