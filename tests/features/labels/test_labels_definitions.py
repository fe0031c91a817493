"""Hardship definitions are data: a new hardship is a definition plus, at most, one rule."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from features.labels import (
    RULES,
    LabelBuildError,
    Observation,
    RuleContext,
    build_labels,
    load_label_definitions,
    rule,
)
from features.labels.definitions import LabelDefinitionsError, parse_label_definitions
from features.timeline.months import month_index, visible_from
from features.timeline.records import LinkedRecords
from tests.features.timeline.town import Town

HARDSHIPS = ("abuse", "poverty", "truancy", "postpartum_depression", "young_carer")


@pytest.fixture
def frequent_mover_rule() -> Iterator[None]:
    @rule("registry_moves")
    def moves(records: LinkedRecords, params: Mapping[str, Any], ctx: RuleContext) -> Observation:
        spells = records.residence[records.residence["move_reason"] == "moved_in"]
        month = month_index(spells["resident_from"])
        events = pd.DataFrame({"person_id": spells["person_id"].to_numpy(), "month": month})
        support = pd.DataFrame(
            {
                "person_id": spells["person_id"].to_numpy(),
                "start": visible_from(spells["known_date"]),
                "end": np.full(len(spells), 10**6),
            }
        )
        return Observation(events, support)

    yield
    RULES.pop("registry_moves")


def test_the_packaged_definitions_name_the_five_hardships_and_known_rules() -> None:
    definitions = load_label_definitions()
    assert tuple(definitions.hardships) == HARDSHIPS
    assert all(d.rule in RULES for d in definitions.hardships.values())
    assert definitions.default_horizon_months == 6


def test_a_new_hardship_is_configuration_plus_a_rule(frequent_mover_rule: None) -> None:
    text = yaml.safe_dump(
        {
            "version": 1,
            "default_horizon_months": 3,
            "hardships": {
                "housing_instability": {
                    "label_ja": "住居の不安定",
                    "description": "Moving into the municipality.",
                    "rule": "registry_moves",
                    "sources": ["registry"],
                }
            },
        },
        allow_unicode=True,
    )
    town = Town()
    town.person("K", "2015-01-01")
    town.live("K", "H1", since="2015-01-01", until="2024-03-01")
    town.live("K", "H2", since="2024-03-02", reason="moved_in", municipality="990002")
    frame = build_labels(
        town.records(),
        ["2023-12", "2024-01", "2024-02", "2024-03", "2024-04"],
        definitions=parse_label_definitions(text.encode()),
        observed_until="2024-12",
    )
    assert frame["label_housing_instability"].tolist() == [False, True, True, True, False]
    assert frame["already_supported_housing_instability"].tolist() == [False] * 4 + [True]


def test_an_unknown_rule_is_an_error() -> None:
    text = yaml.safe_dump(
        {
            "version": 1,
            "default_horizon_months": 6,
            "hardships": {
                "isolation": {
                    "label_ja": "孤立",
                    "description": "x",
                    "rule": "nowhere",
                    "sources": ["registry"],
                }
            },
        }
    )
    town = Town()
    town.person("K", "2015-01-01")
    town.live("K", "H1", since="2015-01-01")
    with pytest.raises(LabelBuildError, match="no label rule named 'nowhere'"):
        build_labels(
            town.records(), ["2024-01"], definitions=parse_label_definitions(text.encode())
        )


@pytest.mark.parametrize(
    "change",
    [{"eligible_age_months": [12, 6]}, {"lookback_months": -1}, {"colour": "red"}],
)
def test_definitions_are_validated(change: dict[str, object]) -> None:
    entry = {"label_ja": "虐待", "description": "x", "rule": "abuse_case", "sources": ["x"]}
    text = yaml.safe_dump(
        {"version": 1, "default_horizon_months": 6, "hardships": {"abuse": {**entry, **change}}}
    )
    with pytest.raises(LabelDefinitionsError):
        parse_label_definitions(text.encode())


def test_a_horizon_below_one_month_is_refused() -> None:
    town = Town()
    town.person("K", "2015-01-01")
    town.live("K", "H1", since="2015-01-01")
    with pytest.raises(LabelBuildError, match="horizon"):
        build_labels(town.records(), ["2024-01"], horizon=0)
