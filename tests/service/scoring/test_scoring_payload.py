"""Payload checks: every unit has a rule, real feature rows pass them, bad values are named."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from features.catalogue.feature_catalogue import load_feature_catalogue
from service.scoring.payload import UNIT_RULES, PayloadError, PayloadSchema, rule_for

CATALOGUE = load_feature_catalogue()
COLUMNS = tuple(f.name for f in CATALOGUE.features if f.name != "municipality")


@pytest.fixture(scope="module")
def schema() -> PayloadSchema:
    return PayloadSchema.build(CATALOGUE, COLUMNS)


def test_every_unit_of_the_catalogue_has_a_rule() -> None:
    units = {f.unit for f in CATALOGUE.features}
    assert units <= set(UNIT_RULES)


def test_every_value_of_the_served_world_passes_its_rule(served_world) -> None:  # type: ignore[no-untyped-def]
    """Rules that refused real rows would make the API refuse what the pipeline produces."""
    frame = pd.read_parquet(served_world.features_dir / "features.parquet")
    for spec in CATALOGUE.features:
        if spec.name == "municipality":
            continue
        rule = rule_for(spec.name, spec.unit)
        values = frame[spec.name].dropna().to_numpy(np.float64)
        if rule.allowed is not None:
            assert set(np.unique(values)) <= set(rule.allowed), spec.name
        if rule.minimum is not None:
            assert values.min(initial=rule.minimum) >= rule.minimum, spec.name
        if rule.maximum is not None:
            assert values.max(initial=rule.maximum) <= rule.maximum, spec.name
        if rule.kind == "integer":
            assert np.all(values == np.round(values)), spec.name


def test_values_land_in_column_order_and_missing_ones_are_listed(schema: PayloadSchema) -> None:
    checked = schema.check({"absence_days_3m": 12, "single_parent": True, "age_months": None})
    position = {name: j for j, name in enumerate(COLUMNS)}
    row = checked.row
    assert row[position["absence_days_3m"]] == 12.0
    assert row[position["single_parent"]] == 1.0
    assert math.isnan(row[position["age_months"]])
    assert "age_months" not in checked.missing  # sent as null: known to be missing
    assert "siblings" in checked.missing
    assert len(checked.missing) == len(COLUMNS) - 3


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("shoe_size", 23, "unknown feature"),
        ("single_parent", 2, "out of range"),
        ("single_parent", "1", "got text"),
        ("siblings", -1, "out of range"),
        ("siblings", 1.5, "whole number"),
        ("siblings", True, "boolean"),
        ("absence_days_1m", 32, "out of range"),  # no month has 32 days
        ("absence_days_3m", 93, "out of range"),
        ("absence_days_12m", 367, "out of range"),
        ("school_stage", 4, "out of range"),
        ("obesity_degree_pct", -150.0, "out of range"),
        ("mother_epds_max", 31, "out of range"),
        ("weight_for_age_z", float("inf"), "finite"),
        ("household_income_bracket", [1], "got list"),
        ("siblings_late_days_12m_mean", 366.5, "out of range"),  # a mean of 12-month windows
        ("siblings_pregnancy_notification_week_mean", -1.0, "out of range"),
    ],
)
def test_a_bad_value_is_refused_with_its_field_named(
    schema: PayloadSchema, field: str, value: object, message: str
) -> None:
    with pytest.raises(PayloadError, match=message) as error:
        schema.check({"age_months": 100, field: value}, where="payloads[2].features")
    assert error.value.field == f"payloads[2].features.{field}"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("absence_days_1m", 31),
        ("absence_days_12m", 366),
        ("absence_days_trend_3m", -40),
        ("obesity_degree_pct", -19.5),
        ("weight_change_kg_per_year", -3.2),
        ("single_parent", False),
        ("birth_weight_g", 2400.5),
        ("siblings_late_days_12m_mean", 1.67),  # three siblings late 1, 2 and 2 days
        ("siblings_nurse_visits_12m_mean", 0.5),
    ],
)
def test_plausible_values_pass(schema: PayloadSchema, field: str, value: object) -> None:
    schema.check({field: value})


def test_text_categories_are_coded_by_the_models_map() -> None:
    schema = PayloadSchema.build(
        CATALOGUE, ("age_months", "school_stage"), {"school_stage": ("elementary", "preschool")}
    )
    coded = schema.check({"school_stage": "preschool"}).row
    numbered = schema.check({"school_stage": 0}).row
    assert coded[1] == 1.0
    assert numbered[1] == 0.0
    with pytest.raises(PayloadError, match="unknown category 'nursery'"):
        schema.check({"school_stage": "nursery"})


def test_changes_apply_over_a_row_without_touching_it(schema: PayloadSchema) -> None:
    base = np.zeros(len(COLUMNS))
    changed = schema.apply(base, {"siblings": 3, "age_months": None})
    assert base.sum() == 0.0
    assert changed[COLUMNS.index("siblings")] == 3.0
    assert math.isnan(changed[COLUMNS.index("age_months")])
    with pytest.raises(PayloadError) as error:
        schema.apply(base, {"siblings": -2})
    assert error.value.field == "changes.siblings"
