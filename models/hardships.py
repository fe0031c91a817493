"""The hardship registry: which hardship types exist, their Japanese labels and model names.

    registry = load_hardship_registry()
    registry.get("abuse").label_ja          # '虐待'
    registered_model_name("abuse")          # 'mimamori-abuse'

The registry is data (hardships.yaml next to this module), so a new hardship type is an entry
there plus a label definition in the feature store, not a new code path. Nothing is read at
import time.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Final, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

__all__ = [
    "HARDSHIPS_RESOURCE",
    "REGISTERED_MODEL_PREFIX",
    "Hardship",
    "HardshipRegistry",
    "HardshipRegistryError",
    "UnknownHardshipError",
    "label_column",
    "load_hardship_registry",
    "parse_hardship_registry",
    "registered_model_name",
    "supported_column",
]

HARDSHIPS_RESOURCE: Final = "hardships.yaml"
# Training registers and the service loads by this name, so both read it from here.
REGISTERED_MODEL_PREFIX: Final = "mimamori-"


class HardshipRegistryError(ValueError):
    """The hardship registry file is invalid; the message says where."""


class UnknownHardshipError(KeyError):
    """A hardship identifier that is not in the registry."""

    def __init__(self, name: str, known: Iterable[str]) -> None:
        self.name = name
        self.known = tuple(known)
        super().__init__(name)

    def __str__(self) -> str:
        return f"unknown hardship {self.name!r}; the registry has: {', '.join(self.known)}"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Hardship(_Model):
    id: str
    label_ja: str = Field(min_length=1)
    description: str = Field(min_length=1)
    exclude_features: tuple[str, ...] = ()

    @property
    def label_column(self) -> str:
        return label_column(self.id)

    @property
    def supported_column(self) -> str:
        return supported_column(self.id)

    @property
    def registered_model_name(self) -> str:
        return registered_model_name(self.id)


class _Entry(_Model):
    label_ja: str = Field(min_length=1)
    description: str = Field(min_length=1)
    exclude_features: tuple[str, ...] = ()


class _Document(_Model):
    version: int = Field(ge=1)
    hardships: dict[str, _Entry] = Field(min_length=1)

    @model_validator(mode="after")
    def _identifiers(self) -> Self:
        for name in self.hardships:
            if not name.replace("_", "").isalpha() or name != name.lower():
                raise ValueError(f"hardship identifier {name!r} must be snake_case English")
        return self


class HardshipRegistry(_Model):
    version: int
    hardships: tuple[Hardship, ...]

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(h.id for h in self.hardships)

    def get(self, name: str) -> Hardship:
        for hardship in self.hardships:
            if hardship.id == name:
                return hardship
        raise UnknownHardshipError(name, self.ids)

    def select(self, names: Iterable[str] | None) -> tuple[Hardship, ...]:
        """The named hardships in the order given (None: all); unknown names raise."""
        if names is None:
            return self.hardships
        chosen = list(dict.fromkeys(names))
        return tuple(self.get(name) for name in chosen)


def label_column(hardship: str) -> str:
    return f"label_{hardship}"


def supported_column(hardship: str) -> str:
    return f"already_supported_{hardship}"


def registered_model_name(hardship: str) -> str:
    return f"{REGISTERED_MODEL_PREFIX}{hardship}"


def parse_hardship_registry(text: bytes | str) -> HardshipRegistry:
    try:
        document = _Document.model_validate(yaml.safe_load(text))
    except (yaml.YAMLError, ValidationError) as error:
        raise HardshipRegistryError(f"invalid hardship registry: {error}") from error
    return HardshipRegistry(
        version=document.version,
        hardships=tuple(
            Hardship(id=name, **entry.model_dump()) for name, entry in document.hardships.items()
        ),
    )


def load_hardship_registry(path: str | os.PathLike[str] | None = None) -> HardshipRegistry:
    """The registry in `path`, or the packaged one (read once per process)."""
    if path is not None:
        return parse_hardship_registry(Path(path).read_bytes())
    return _packaged_registry()


@lru_cache(maxsize=1)
def _packaged_registry() -> HardshipRegistry:
    return parse_hardship_registry(
        resources.files("models").joinpath(HARDSHIPS_RESOURCE).read_bytes()
    )
