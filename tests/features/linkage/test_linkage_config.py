"""Linkage settings as versioned data."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from features.linkage import Thresholds, load_linkage_settings


def _shipped() -> dict[str, Any]:
    text = (resources.files("features.linkage") / "settings" / "linkage_v1.json").read_text(
        encoding="utf-8"
    )
    document: dict[str, Any] = json.loads(text)
    return document


def test_the_shipped_settings_load_with_version_and_hash() -> None:
    settings = load_linkage_settings()

    assert (settings.name, settings.version) == ("mimamori-linkage", "1")
    assert len(settings.sha256) == 64
    assert settings.thresholds == Thresholds(link=0.95, review_lower=0.5)
    assert settings.max_local_ids_per_municipality["atena"] == 1
    assert settings.splink["link_type"] == "dedupe_only"


def test_every_comparison_level_has_priors_and_explicit_null_and_else_levels() -> None:
    for comparison in load_linkage_settings().splink["comparisons"]:
        levels = comparison["comparison_levels"]
        assert levels[0].get("is_null_level"), comparison["output_column_name"]
        assert levels[-1]["sql_condition"] == "ELSE"
        for level in levels[1:]:
            assert 0 < level["m_probability"] <= 1
            assert 0 < level["u_probability"] <= 1


def test_no_parameter_estimation_is_blocked_on_names_alone() -> None:
    name_columns = ("name_key", "kana_key", "surname", "given")
    for rule in load_linkage_settings().training.em_blocking_rules:
        terms = [term.strip() for term in rule.split("AND")]
        assert any(not any(c in term for c in name_columns) for term in terms), rule


def test_every_prediction_rule_keeps_the_pair_filter() -> None:
    settings = load_linkage_settings()
    rules = settings.splink_settings()["blocking_rules_to_generate_predictions"]
    assert all(settings.pair_filter in rule for rule in rules)


def test_a_changed_file_gets_another_hash(tmp_path: Path) -> None:
    document = _shipped()
    document["thresholds"]["link"] = 0.99
    path = tmp_path / "strict.json"
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")

    strict = load_linkage_settings(path)

    assert strict.thresholds.link == 0.99
    assert strict.sha256 != load_linkage_settings().sha256


def test_bad_settings_are_refused(tmp_path: Path) -> None:
    document = _shipped()
    document["thresholds"] = {"link": 0.4, "review_lower": 0.6}
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(ValueError, match="review_lower"):
        load_linkage_settings(path)

    del document["training"]
    path.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(ValueError, match="training"):
        load_linkage_settings(path)
