"""Linkage of a generated tiny population, scored against its ground truth."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from features.linkage import (
    LinkageResult,
    gaiji_maps_from_extracts,
    link_records,
    pairwise_metrics,
    read_extract_identities,
)
from features.linkage.baseline import nfkc_only_keys

pytestmark = pytest.mark.slow

KEY = b"mimamori-test-key-0123456789abcdef"
# The ground truth calls both maternal-health record kinds boshi.
TRUTH_ID_KIND = {
    "atena": "atena",
    "pupil": "pupil",
    "maternal_record": "boshi",
    "child_record": "boshi",
}


@pytest.fixture(scope="module")
def population(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from synthetic.generator import generate
    from synthetic.profiles import resolve_profile

    root = tmp_path_factory.mktemp("linkage-population")
    generate(resolve_profile("tiny", children=400, seed=5), root)
    return root


@pytest.fixture(scope="module")
def records(population: Path) -> pd.DataFrame:
    return read_extract_identities(population / "extracts").records


@pytest.fixture(scope="module")
def truth(population: Path, records: pd.DataFrame) -> pd.DataFrame:
    id_map = pd.read_parquet(population / "ground_truth" / "id_map.parquet")
    keyed = records[["record_key", "municipality", "id_kind", "local_id"]].assign(
        truth_kind=lambda f: f["id_kind"].map(TRUTH_ID_KIND)
    )
    joined = keyed.merge(
        id_map,
        left_on=["truth_kind", "municipality", "local_id"],
        right_on=["id_kind", "municipality", "id_value"],
        how="left",
    )
    assert joined["person_id"].notna().all(), "every identity record has a true person"
    return joined.rename(columns={"person_id": "true_person"})[["record_key", "true_person"]]


@pytest.fixture(scope="module")
def linked(population: Path, records: pd.DataFrame) -> LinkageResult:
    return link_records(
        records, key=KEY, gaiji_maps=gaiji_maps_from_extracts(population / "extracts")
    )


def test_linkage_is_precise_and_complete(linked: LinkageResult, truth: pd.DataFrame) -> None:
    metrics = pairwise_metrics(linked.mapping, truth)

    assert metrics.precision >= 0.99
    assert metrics.recall >= 0.98


def test_linkage_beats_nfkc_only_normalisation(
    linked: LinkageResult, records: pd.DataFrame, truth: pd.DataFrame
) -> None:
    baseline = link_records(records, key=KEY, key_builder=nfkc_only_keys)

    ours = pairwise_metrics(linked.mapping, truth)
    theirs = pairwise_metrics(baseline.mapping, truth)
    assert ours.f1 > theirs.f1


def test_every_record_has_one_person(linked: LinkageResult, records: pd.DataFrame) -> None:
    mapping = linked.mapping
    assert sorted(mapping["record_key"]) == sorted(records["record_key"])
    assert set(mapping["person_id"]) == set(linked.persons["person_id"])
    assert linked.persons["n_records"].sum() == len(records)
    assert set(mapping["method"]) <= {"deterministic", "clerical", "probabilistic", "unlinked"}
    assert mapping.loc[mapping["method"] == "unlinked", "match_probability"].isna().all()


def test_one_registry_record_per_person_and_municipality(linked: LinkageResult) -> None:
    registry = linked.mapping[linked.mapping["id_kind"] == "atena"].drop_duplicates(
        ["municipality", "local_id"]
    )
    assert not registry.duplicated(["person_id", "municipality"]).any()


def test_the_report_accounts_for_the_run(linked: LinkageResult, records: pd.DataFrame) -> None:
    report = linked.report.to_dict()

    assert report["records"] == len(records)
    assert sum(report["records_by_source"].values()) == len(records)
    assert sum(report["records_by_method"].values()) == len(records)
    assert report["review_queue"] == len(linked.review_queue)
    assert report["persons"] == len(linked.persons)
    assert report["settings_version"] == "1"
    assert len(report["settings_sha256"]) == 64
    assert linked.households["household_key"].str.contains(":").all()
    assert not linked.family_links.empty
