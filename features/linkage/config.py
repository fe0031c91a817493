"""Linkage settings, kept as versioned data (settings/linkage_v1.json) and identified by hash.

The file holds the Splink model (comparisons with explicit null and else levels, prior m and u
probabilities, blocking rules) and Mimamori's own rules around it: the review thresholds, the
pairs never compared, how many local IDs of a kind one person may hold per municipality, and how
to train. A run records the version and the hash, so a result can be traced to its settings.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType
from typing import Any, Final

__all__ = [
    "DEFAULT_SETTINGS_FILE",
    "LinkageSettings",
    "Thresholds",
    "TrainingSettings",
    "load_linkage_settings",
]

DEFAULT_SETTINGS_FILE: Final = "linkage_v1.json"


@dataclass(frozen=True)
class Thresholds:
    """Pairs at or above `link` are linked; pairs in [review_lower, link) go to clerical review."""

    link: float
    review_lower: float

    def __post_init__(self) -> None:
        if not 0.0 < self.review_lower <= self.link <= 1.0:
            raise ValueError("thresholds must satisfy 0 < review_lower <= link <= 1")


@dataclass(frozen=True)
class TrainingSettings:
    """How parameters are estimated when a run has at least `min_records` records."""

    min_records: int
    prior_deterministic_rules: tuple[str, ...]
    prior_recall: float
    u_max_pairs: int
    u_seed: int
    em_blocking_rules: tuple[str, ...]
    m_floor: float


@dataclass(frozen=True)
class LinkageSettings:
    name: str
    version: str
    sha256: str
    thresholds: Thresholds
    pair_filter: str
    max_local_ids_per_municipality: Mapping[str, int]
    twin_guard: bool
    review_unless_birth_dates_agree: bool
    training: TrainingSettings
    splink: Mapping[str, Any]

    def with_filter(self, rule: str) -> str:
        """A blocking rule restricted to the pairs that may be compared at all."""
        return f"({rule}) AND ({self.pair_filter})"

    def splink_settings(self) -> dict[str, Any]:
        """A fresh Splink settings dict with the pair filter applied to every blocking rule."""
        settings = copy.deepcopy(dict(self.splink))
        settings["blocking_rules_to_generate_predictions"] = [
            self.with_filter(rule) for rule in settings["blocking_rules_to_generate_predictions"]
        ]
        return settings


def _canonical_hash(document: Mapping[str, Any]) -> str:
    canonical = json.dumps(document, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _parse(document: Mapping[str, Any]) -> LinkageSettings:
    try:
        thresholds = document["thresholds"]
        training = document["training"]
        splink = document["splink"]
        if not splink.get("blocking_rules_to_generate_predictions") or not splink.get(
            "comparisons"
        ):
            raise ValueError("linkage settings: splink needs comparisons and blocking rules")
        return LinkageSettings(
            name=str(document["name"]),
            version=str(document["version"]),
            sha256=_canonical_hash(document),
            thresholds=Thresholds(
                link=float(thresholds["link"]), review_lower=float(thresholds["review_lower"])
            ),
            pair_filter=str(document["pair_filter"]),
            max_local_ids_per_municipality=MappingProxyType(
                {str(k): int(v) for k, v in document["max_local_ids_per_municipality"].items()}
            ),
            twin_guard=bool(document["twin_guard"]),
            review_unless_birth_dates_agree=bool(document["review_unless_birth_dates_agree"]),
            training=TrainingSettings(
                min_records=int(training["min_records"]),
                prior_deterministic_rules=tuple(training["prior_deterministic_rules"]),
                prior_recall=float(training["prior_recall"]),
                u_max_pairs=int(training["u_max_pairs"]),
                u_seed=int(training["u_seed"]),
                em_blocking_rules=tuple(training["em_blocking_rules"]),
                m_floor=float(training["m_floor"]),
            ),
            splink=MappingProxyType(copy.deepcopy(dict(splink))),
        )
    except KeyError as missing:
        raise ValueError(f"linkage settings: missing key {missing}") from None


def load_linkage_settings(path: str | os.PathLike[str] | None = None) -> LinkageSettings:
    """Read linkage settings from `path`, or the shipped linkage_v1.json when None."""
    if path is None:
        text = (resources.files("features.linkage") / "settings" / DEFAULT_SETTINGS_FILE).read_text(
            encoding="utf-8"
        )
    else:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    return _parse(json.loads(text))
