"""The feature catalogue and the builder agree, and screening by purpose reads only what it may."""

from __future__ import annotations

from importlib import resources

import pandas as pd
import pytest
import yaml

from features.catalogue import (
    FeatureCatalogueError,
    load_feature_catalogue,
    parse_feature_catalogue,
)
from features.ingest.catalogue import load_catalogue
from features.pointintime import KEY_COLUMNS, FeatureBuildError, build_features
from features.timeline.records import LinkedRecords
from tests.features.pointintime.test_pointintime_known_answers import MONTHS, family_records

SCHOOL_SOURCES = {"attendance", "health_check", "school_aid", "young_carer"}


def _catalogue_text() -> dict[str, object]:
    text = resources.files("features.catalogue").joinpath("features.yaml").read_bytes()
    return yaml.safe_load(text)


def test_every_emitted_column_is_catalogued_and_every_catalogued_one_emitted() -> None:
    frame = build_features(family_records(), MONTHS)
    assert list(frame.columns) == [*KEY_COLUMNS, *load_feature_catalogue().names]


def test_every_feature_says_what_it_is_where_it_comes_from_and_on_what_basis() -> None:
    sources = load_catalogue().sources
    for feature in load_feature_catalogue().features:
        assert feature.label_ja and feature.description and feature.unit
        spec = sources[feature.source]
        assert feature.department == spec.department
        assert feature.purpose == spec.purpose
        assert feature.legal_basis == spec.legal_basis
    table = load_feature_catalogue().to_frame()
    assert table["legal_basis"].notna().all() and len(table) == len(table["name"].unique())


def test_a_group_emitting_an_uncatalogued_column_is_an_error() -> None:
    raw = _catalogue_text()
    raw["features"] = [f for f in raw["features"] if f["name"] != "moves_24m"]  # type: ignore[index]
    catalogue = parse_feature_catalogue(yaml.safe_dump(raw).encode(), load_catalogue())
    with pytest.raises(FeatureBuildError, match="moves_24m"):
        build_features(family_records(), MONTHS, catalogue=catalogue)


def test_a_catalogued_column_no_group_emits_is_an_error() -> None:
    raw = _catalogue_text()
    extra = {
        "name": "moves_36m",
        "label_ja": "直近36か月の転居回数",
        "description": "Not computed by any group.",
        "group": "household",
        "source": "registry",
        "unit": "count",
    }
    raw["features"] = [*raw["features"], extra]  # type: ignore[misc]
    catalogue = parse_feature_catalogue(yaml.safe_dump(raw).encode(), load_catalogue())
    with pytest.raises(FeatureBuildError, match="moves_36m"):
        build_features(family_records(), MONTHS, catalogue=catalogue)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"name": "x1", "source": "nowhere"}, "unknown source"),
        ({"name": "x2", "holding": "sleep_diary"}, "neither a source nor an element"),
        ({"name": "age_months"}, "listed twice"),
        ({"unit": "furlongs"}, "invalid feature catalogue"),
    ],
)
def test_the_catalogue_is_validated(change: dict[str, str], message: str) -> None:
    raw = _catalogue_text()
    broken = {**raw["features"][3], **change}  # type: ignore[index]
    raw["features"] = [*raw["features"], broken]  # type: ignore[misc]
    with pytest.raises(FeatureCatalogueError, match=message):
        parse_feature_catalogue(yaml.safe_dump(raw).encode(), load_catalogue())


def test_a_feature_without_a_missing_indicator_is_refused() -> None:
    raw = _catalogue_text()
    raw["features"] = [f for f in raw["features"] if f["name"] != "missing_tax"]  # type: ignore[index]
    with pytest.raises(FeatureCatalogueError, match="no missing-source indicator"):
        parse_feature_catalogue(yaml.safe_dump(raw).encode(), load_catalogue())


def test_school_screening_keeps_school_features_only_with_the_same_values() -> None:
    records = family_records()
    full = build_features(records, MONTHS)
    school = build_features(records, MONTHS, purposes={"school"})
    catalogue = load_feature_catalogue()
    # A school feature that also needs another department's data (the siblings' school year
    # reaches a child through the registry's household) is not a school-only feature.
    expected = [
        f.name for f in catalogue.features if f.always or (f.purpose == "school" and not f.requires)
    ]
    assert list(school.columns) == [*KEY_COLUMNS, *expected]
    assert "siblings_late_days_12m_mean" not in school.columns
    assert catalogue.sources_for({"school"}) == SCHOOL_SOURCES
    pd.testing.assert_frame_equal(school, full[school.columns])


def test_school_screening_does_not_read_other_sources() -> None:
    records = family_records()
    # Welfare and tax rows that would break any code that read them.
    keep = ["person_id", "municipality", "event_date", "known_date"]
    poisoned = {
        name: frame[[c for c in frame.columns if c in keep or c.endswith("_person_id")]]
        for name, frame in records.sources.items()
        if name not in SCHOOL_SOURCES
    }
    broken = LinkedRecords(
        sources={**records.sources, **poisoned},
        people=records.people,
        residence=records.residence,
        holdings=records.holdings,
    )
    with pytest.raises(KeyError):
        build_features(broken, MONTHS)
    school = build_features(broken, MONTHS, purposes={"school"})
    pd.testing.assert_frame_equal(school, build_features(records, MONTHS, purposes={"school"}))


def test_household_features_need_the_registry_purpose_too() -> None:
    catalogue = load_feature_catalogue()
    welfare = {f.name for f in catalogue.selected({"welfare"})}
    assert "public_assistance_current" in welfare
    assert "household_care_need_members" not in welfare  # also needs registry households
    assert "household_care_need_members" in {
        f.name for f in catalogue.selected({"welfare", "registry"})
    }
