"""Checking a vendor's feature payload against the feature catalogue before it is scored.

    schema = PayloadSchema.build(catalogue, store.columns, category_maps)
    checked = schema.check({"absence_days_3m": 12, "single_parent": 1})
    checked.row             # float64 in store column order, NaN where a field was not sent
    checked.missing         # the fields that were not sent (scored as missing)

Every rule lives in `UNIT_RULES` and `FEATURE_RULES` below, so the range a unit allows is
written once: a flag is 0 or 1, counts and durations are whole and not negative, a window of
k months cannot hold more days than k months have, a percentage lies in a range that the
measurement allows. A value that breaks a rule is refused with the field named, never clipped:
a vendor that sends minutes where days are expected must hear about it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

import numpy as np

from features.catalogue.feature_catalogue import FeatureCatalogue, Unit

__all__ = [
    "FEATURE_RULES",
    "UNIT_RULES",
    "CheckedPayload",
    "PayloadError",
    "PayloadSchema",
    "Rule",
    "rule_for",
]

Kind = Literal["integer", "number"]


@dataclass(frozen=True)
class Rule:
    """What values a feature accepts. `allowed` (if any) lists the only valid values."""

    kind: Kind
    minimum: float | None = None
    maximum: float | None = None
    allowed: tuple[float, ...] | None = None

    def describe(self) -> str:
        if self.allowed is not None:
            return "one of " + ", ".join(_number_text(v) for v in self.allowed)
        bounds = []
        if self.minimum is not None:
            bounds.append(f">= {_number_text(self.minimum)}")
        if self.maximum is not None:
            bounds.append(f"<= {_number_text(self.maximum)}")
        what = "a whole number" if self.kind == "integer" else "a number"
        return what + (" " + " and ".join(bounds) if bounds else "")


# Days in a window of k calendar months, at most: 31, 62, 92, 123, 153, 184, ... 366.
def _days_in(months: int) -> float:
    return float(min(366, math.ceil(months * 30.5)))


UNIT_RULES: Final[Mapping[Unit, Rule]] = {
    "flag": Rule("integer", allowed=(0.0, 1.0)),
    # An age in months under 18 years, or a duration within that.
    "months": Rule("integer", 0, 216),
    "days": Rule("integer", 0, 366),
    "count": Rule("integer", 0, 100),
    # Codes without a category map are small non-negative integers; FEATURE_RULES narrows them.
    "code": Rule("integer", 0, 99),
    "kg": Rule("number", 0, 200),
    "kg_per_year": Rule("number", -50, 50),
    "z_score": Rule("number", -10, 10),
    "percent": Rule("number", 0, 100),
    "grams": Rule("number", 200, 7000),
    "week": Rule("integer", 0, 45),
    "score": Rule("number", 0, 100),
    # The tax extract's 所得段階 is 0-99 (features/ingest/catalogue.yaml).
    "bracket": Rule("integer", 0, 99),
}

# Features whose meaning narrows or widens their unit's rule; a name pattern applies to every
# feature it matches, an exact name overrides the patterns.
FEATURE_RULES: Final[Mapping[str, Rule]] = {
    "school_stage": Rule("integer", allowed=(0.0, 1.0, 2.0, 3.0)),
    # 肥満度 is negative for thin children (-20 or less is やせ) and can pass +100 for obesity.
    "obesity_degree_pct": Rule("number", -100, 300),
    # EPDS has ten items scored 0-3.
    "mother_epds_latest": Rule("integer", 0, 30),
    "mother_epds_max": Rule("integer", 0, 30),
    # Lag from the latest reported attendance month; missing beyond 4 months.
    "attendance_report_lag_months": Rule("integer", 0, 12),
    "household_arrears_months_12m": Rule("integer", 0, 12),
    "household_arrears_max_12m": Rule("integer", 0, 240),
    # A trend is the latest three months minus the three before: both ways, at most 92 days.
    "absence_days_trend_3m": Rule("integer", -92, 92),
    "absence_nonillness_trend_3m": Rule("integer", -92, 92),
    "absence_nonillness_days_school_year": Rule("integer", 0, 366),
    # Calendar facts of the as-of month.
    "as_of_month_of_year": Rule("integer", 1, 12),
    "months_to_school_aid_decision": Rule("integer", 0, 11),
    "school_months_left": Rule("integer", 1, 12),
    "household_mother_epds_max_36m": Rule("integer", 0, 30),
    "mother_age_at_birth_years": Rule("integer", 10, 70),
    # Sums of 滞納月数 over household members and months: one member alone can reach 240 a month.
    "household_arrears_sum_3m": Rule("integer", 0, 3000),
    "household_arrears_sum_12m": Rule("integer", 0, 12000),
}
_WINDOW: Final = re.compile(r"_(\d+)m$")
_MEAN: Final = "_mean"


def rule_for(name: str, unit: Unit) -> Rule:
    """The rule of one feature: its own, else its unit's narrowed by its window.

    A mean over the siblings (`..._mean`) lies in the range of what it averages but need not
    be whole: three siblings late 1, 2 and 2 days average 1.67.
    """
    if name in FEATURE_RULES:
        return FEATURE_RULES[name]
    if name.endswith(_MEAN):
        averaged = rule_for(name.removesuffix(_MEAN), unit)
        if averaged.allowed is not None:
            return Rule("number", min(averaged.allowed), max(averaged.allowed))
        return Rule("number", averaged.minimum, averaged.maximum)
    rule = UNIT_RULES[unit]
    window = _WINDOW.search(name)
    if unit == "days" and window:
        return Rule("integer", 0, _days_in(int(window.group(1))))
    return rule


class PayloadError(ValueError):
    """A payload field that cannot be scored; `field` names it."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


@dataclass(frozen=True)
class CheckedPayload:
    row: np.ndarray  # float64 in store column order; NaN = missing
    missing: tuple[str, ...]


@dataclass(frozen=True)
class _Field:
    position: int
    rule: Rule
    categories: Mapping[str, int] | None  # text categories -> code, for mapped features


@dataclass(frozen=True)
class PayloadSchema:
    """The fields a payload may carry (the store's feature columns) and their rules."""

    columns: tuple[str, ...]
    fields: Mapping[str, _Field]

    @classmethod
    def build(
        cls,
        catalogue: FeatureCatalogue,
        columns: Sequence[str],
        category_maps: Mapping[str, Sequence[str]] | None = None,
    ) -> PayloadSchema:
        units = {spec.name: spec.unit for spec in catalogue.features}
        maps = category_maps or {}
        fields: dict[str, _Field] = {}
        for position, name in enumerate(columns):
            categories = maps.get(name)
            unit = units.get(name)
            if categories is not None:
                codes = {str(c): i for i, c in enumerate(categories)}
                allowed = tuple(float(i) for i in range(len(categories)))
                fields[name] = _Field(position, Rule("integer", allowed=allowed), codes)
            elif unit is not None:
                fields[name] = _Field(position, rule_for(name, unit), None)
            else:
                # A column the catalogue does not describe cannot be checked, so it is not
                # accepted from outside (the catalogue test keeps this from happening).
                continue
        return cls(columns=tuple(columns), fields=fields)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.fields)

    def rule(self, name: str) -> Rule:
        return self.fields[name].rule

    def check(self, features: Mapping[str, Any], *, where: str = "features") -> CheckedPayload:
        """Values in column order; raises PayloadError naming the first bad field."""
        values = np.full(len(self.columns), np.nan, dtype=np.float64)
        seen: set[str] = set()
        for name, raw in features.items():
            spec = self.fields.get(name)
            if spec is None:
                raise PayloadError(f"{where}.{name}", f"unknown feature {name!r}")
            seen.add(name)
            values[spec.position] = self._value(spec, raw, f"{where}.{name}")
        missing = tuple(n for n in self.fields if n not in seen)
        return CheckedPayload(row=values, missing=missing)

    def apply(
        self, base: np.ndarray, changes: Mapping[str, Any], *, where: str = "changes"
    ) -> np.ndarray:
        """A copy of `base` (store column order) with checked `changes` written over it."""
        values = np.array(base, dtype=np.float64, copy=True)
        for name, raw in changes.items():
            spec = self.fields.get(name)
            if spec is None:
                raise PayloadError(f"{where}.{name}", f"unknown feature {name!r}")
            values[spec.position] = self._value(spec, raw, f"{where}.{name}")
        return values

    @staticmethod
    def _value(spec: _Field, raw: Any, where: str) -> float:
        if raw is None:
            return math.nan
        rule = spec.rule
        if isinstance(raw, str):
            if spec.categories is None:
                raise PayloadError(where, f"expected {rule.describe()}, got text")
            code = spec.categories.get(raw)
            if code is None:
                known = ", ".join(spec.categories)
                raise PayloadError(where, f"unknown category {raw!r}; known: {known}")
            return float(code)
        # bool is an int in Python; 0/1 flags may come as JSON true/false, nothing else may.
        if isinstance(raw, bool):
            if rule.allowed != (0.0, 1.0):
                raise PayloadError(where, f"expected {rule.describe()}, got a boolean")
            return float(raw)
        if not isinstance(raw, int | float):
            raise PayloadError(where, f"expected {rule.describe()}, got {type(raw).__name__}")
        value = float(raw)
        if not math.isfinite(value):
            raise PayloadError(where, "expected a finite number")
        if rule.kind == "integer" and not value.is_integer():
            raise PayloadError(where, f"expected {rule.describe()}, got {raw!r}")
        if rule.allowed is not None and value not in rule.allowed:
            raise PayloadError(where, f"{raw!r} is out of range: expected {rule.describe()}")
        if (rule.minimum is not None and value < rule.minimum) or (
            rule.maximum is not None and value > rule.maximum
        ):
            raise PayloadError(where, f"{raw!r} is out of range: expected {rule.describe()}")
        return value


def _number_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def merged_category_maps(
    maps: Iterable[Mapping[str, Sequence[str]]],
) -> dict[str, tuple[str, ...]]:
    """One category map per feature across models; models trained on one store agree."""
    merged: dict[str, tuple[str, ...]] = {}
    for mapping in maps:
        for name, categories in mapping.items():
            merged.setdefault(name, tuple(categories))
    return merged
