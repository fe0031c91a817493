"""The store adapter gives the extract adapter's identity records, read from `source_record`."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine

from features.ingest.run import ingest_extracts
from features.linkage.extract_adapter import read_extract_identities
from features.linkage.store_adapter import identity_records_from_store, read_store_identities
from features.store.database import make_engine
from features.store.migrate import upgrade
from synthetic.generator import generate
from synthetic.profiles import resolve_profile

# The population's history ends in March 2026: a fixed run date keeps every row in the past.
RUN_DATE = pd.Timestamp("2026-06-30").date()


@pytest.fixture(scope="module")
def population(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("population")
    generate(resolve_profile("tiny", children=300, seed=11), data_dir)
    return data_dir


def _ingested(extracts: Path, database: Path) -> Engine:
    engine = make_engine(f"sqlite:///{database}")
    upgrade(engine)
    ingest_extracts(extracts, engine, today=RUN_DATE)
    return engine


@pytest.fixture(scope="module")
def dirty_store(population: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    engine = _ingested(population / "extracts", tmp_path_factory.mktemp("dirty") / "store.db")
    yield engine
    engine.dispose()


def _encodings(extracts: Path) -> dict[str, str]:
    manifest = json.loads((extracts / "manifest.json").read_text(encoding="utf-8"))
    return {m["code"]: m["encoding"] for m in manifest["municipalities"]}


def _without_empty_names(population: Path, target: Path) -> Path:
    """A copy of the extracts without the registry rows whose name the generator blanked.

    Ingestion quarantines those rows (氏名 is required) while the CSV reader keeps them, so
    they are the one place the adapters are meant to differ.
    """
    extracts = target / "extracts"
    shutil.copytree(population / "extracts", extracts)
    encodings = _encodings(extracts)
    defects = pd.read_parquet(population / "ground_truth" / "defects.parquet")
    blanked = defects[defects["defect"] == "empty_name"]
    for relative, lines in blanked.groupby("file")["line"]:
        path = extracts / relative
        encoding = encodings[relative.split("/")[0]]
        text = path.read_bytes().decode(encoding).splitlines(keepends=True)
        drop = set(lines.tolist())
        kept = [line for number, line in enumerate(text, start=1) if number not in drop]
        path.write_bytes("".join(kept).encode(encoding))
    return extracts


def test_store_records_equal_extract_records_on_clean_rows(
    population: Path, tmp_path: Path
) -> None:
    extracts = _without_empty_names(population, tmp_path)
    engine = _ingested(extracts, tmp_path / "store.db")
    from_store = read_store_identities(engine)
    from_extracts = read_extract_identities(extracts)
    engine.dispose()

    assert len(from_store.records) > 500
    assert set(from_store.records["source"]) == {
        "registry",
        "school_register",
        "pregnancy",
        "birth",
        "infant_checkup",
    }
    # Histories, mother links and the collapsing of repeated rows are all exercised.
    assert from_store.records["name_history"].map(len).gt(0).any()
    assert from_store.records["mother_record_key"].ne("").any()
    pd.testing.assert_frame_equal(from_store.records, from_extracts.records)
    assert from_store.notes == from_extracts.notes


def test_on_dirty_rows_only_the_identities_of_quarantined_rows_differ(
    population: Path, dirty_store: Engine
) -> None:
    from_store = identity_records_from_store(dirty_store).set_index("record_key")
    from_extracts = read_extract_identities(population / "extracts").records.set_index("record_key")
    defects = pd.read_parquet(population / "ground_truth" / "defects.parquet")
    blanked = defects[defects["defect"] == "empty_name"]
    encodings = _encodings(population / "extracts")
    touched = set()
    for relative, lines in blanked.groupby("file")["line"]:
        code = relative.split("/")[0]
        jumin = pd.read_csv(
            population / "extracts" / relative,
            dtype=str,
            keep_default_na=False,
            encoding=encodings[code],
        )
        ids = jumin.iloc[[line - 2 for line in lines], 0]
        touched |= {f"{code}:registry:atena:{atena}" for atena in ids}
    assert touched

    assert set(from_store.index) <= set(from_extracts.index)
    common = from_store.index
    left = from_extracts.loc[common].astype(str)
    right = from_store.astype(str)
    differing = set(common[(left != right).any(axis=1)])
    missing = set(from_extracts.index) - set(from_store.index)
    assert differing | missing <= touched
