"""Linked records from the store and from rows: one contract, honest about what is missing."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from features.ingest.run import ingest_extracts
from features.store.database import make_engine
from features.store.migrate import upgrade
from features.timeline.adapters import (
    linked_records_from_rows,
    linked_records_from_store,
    people_from_sources,
)
from features.timeline.records import LinkedRecords, LinkedRecordsError
from tests.features.timeline.perfect_linkage import (
    RUN_DATE,
    holdings_from_manifest,
    identity_map_from_ground_truth,
)
from tests.features.timeline.town import Town


def _row(source: str, local_id: str, **payload: object) -> dict[str, object]:
    return {
        "municipality": "990001",
        "source": source,
        "id_kind": "atena",
        "local_id": local_id,
        "event_date": dt.date(2024, 4, 1),
        "known_date": dt.date(2024, 4, 2),
        "payload": payload,
    }


def _registry(local_id: str, relationship: str, birth: str) -> dict[str, object]:
    return _row(
        "registry",
        local_id,
        atena_no=local_id,
        household_no="H1",
        birth_date=birth,
        sex="F",
        relationship=relationship,
        nationality="japanese",
        move_reason="existing",
        residence_from="2024-04-01",
        notified_on="2024-04-02",
        removed_on=None,
    )


def _identity(*pairs: tuple[str, str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "municipality": "990001",
            "id_kind": "atena",
            "local_id": [p[0] for p in pairs],
            "person_id": [p[1] for p in pairs],
        }
    )


@pytest.mark.slow
def test_store_adapter_matches_the_rows_and_reads_holdings_from_the_files(
    tiny_root: Path, tiny: LinkedRecords, tmp_path: Path
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade(engine)
    ingest_extracts(tiny_root / "extracts", engine, today=RUN_DATE)
    identity = identity_map_from_ground_truth(tiny_root / "ground_truth")
    stored = linked_records_from_store(engine, identity)
    assert set(stored.sources) == set(tiny.sources)
    for source, frame in tiny.sources.items():
        ours = stored.sources[source]
        assert len(ours) == len(frame), source
        key = ["person_id", "event_date", "known_date"]
        pd.testing.assert_frame_equal(
            ours.sort_values([*key, *ours.columns.difference(key)]).reset_index(drop=True),
            frame.sort_values([*key, *frame.columns.difference(key)]).reset_index(drop=True),
            check_dtype=False,
            check_exact=True,
        )
    # Files present per town (an empty file still counts), minus the manifest's missing ones.
    assert stored.holdings == holdings_from_manifest(tiny_root / "extracts")
    screened = linked_records_from_store(engine, identity, sources=["attendance"])
    assert set(screened.sources) == {"attendance", "registry"}


def test_rows_the_identity_map_cannot_place_are_counted_not_guessed() -> None:
    rows = pd.DataFrame(
        [
            _registry("100", "child", "2015-06-01"),
            _registry("200", "head", "1985-01-01"),
            _row(
                "consultation",
                "999",
                atena_no="999",
                received_on="2024-04-01",
                consultation_kind="neglect",
                outcome=None,
                recorded_on="2024-04-02",
            ),
        ]
    )
    records = linked_records_from_rows(rows, _identity(("100", "P1"), ("200", "P2")))
    assert records.unlinked_rows["consultation"] == 1
    assert records.sources["consultation"].empty
    assert set(records.residence["person_id"]) == {"P1", "P2"}
    assert dict(zip(records.people["person_id"], records.people["role"], strict=True)) == {
        "P1": "child",
        "P2": "adult",
    }
    assert records.holdings == {"990001": frozenset({"registry", "consultation"})}


def test_an_identity_placed_on_two_people_is_refused() -> None:
    rows = pd.DataFrame([_registry("100", "child", "2015-06-01")])
    with pytest.raises(ValueError, match="two people"):
        linked_records_from_rows(rows, _identity(("100", "P1"), ("100", "P2")))


def test_related_people_are_resolved_through_their_own_id_kind() -> None:
    rows = pd.DataFrame(
        [
            _registry("100", "child", "2024-03-01"),
            {
                **_row(
                    "birth",
                    "C1",
                    child_record_no="C1",
                    maternal_record_no="M1",
                    birth_date="2024-03-01",
                    sex="F",
                    registered_on="2024-03-20",
                ),
                "id_kind": "child_record",
            },
        ]
    )
    identity = pd.concat(
        [
            _identity(("100", "P1")),
            pd.DataFrame(
                {
                    "municipality": "990001",
                    "id_kind": ["child_record", "maternal_record"],
                    "local_id": ["C1", "M1"],
                    "person_id": ["P1", "P9"],
                }
            ),
        ]
    )
    records = linked_records_from_rows(rows, identity)
    birth = records.sources["birth"]
    assert birth.loc[0, "person_id"] == "P1" and birth.loc[0, "mother_person_id"] == "P9"
    assert pd.api.types.is_datetime64_any_dtype(birth["birth_date"])


def test_the_contract_names_what_is_missing() -> None:
    town = Town()
    town.person("C1", "2015-01-01")
    town.live("C1", "H1", since="2015-01-01")
    records = town.records()
    with pytest.raises(LinkedRecordsError, match="residence lacks column"):
        LinkedRecords(
            sources={},
            people=records.people,
            residence=records.residence.drop(columns="household"),
            holdings={},
        )
    with pytest.raises(LinkedRecordsError, match="must be datetime64"):
        LinkedRecords(
            sources={},
            people=records.people.assign(birth_date="2015-01-01"),
            residence=records.residence,
            holdings={},
        )


def test_about_keeps_rows_that_name_a_person_in_a_second_column() -> None:
    town = Town()
    town.person("C1", "2024-01-05")
    town.person("M1", "1990-01-01", role="adult")
    town.add("birth", "C1", "2024-01-05", mother_person_id="M1", birth_date="2024-01-05")
    town.add("epds", "M1", "2024-02-10", epds_score=12, screened_on="2024-02-10")
    part = town.records().about(["M1"])
    assert len(part.sources["birth"]) == 1  # names M1 as the mother
    assert len(part.sources["epds"]) == 1


def test_people_from_sources_takes_the_most_frequent_birth_date() -> None:
    town = Town()
    for birth in ("2015-01-01", "2015-01-01", "2015-10-01"):
        town.add("school_register", "C1", "2024-04-01", birth_date=birth, sex="M")
    people = people_from_sources(town.records().sources)
    assert people.loc[0, "birth_date"] == pd.Timestamp("2015-01-01")
    assert people.loc[0, "role"] == "child"


def test_a_person_master_from_linkage_is_taken_as_given() -> None:
    rows = pd.DataFrame([_registry("100", "child", "2015-06-01")])
    master = pd.DataFrame(
        {
            "person_id": ["P1"],
            "birth_date": [dt.date(2015, 6, 2)],
            "sex": ["M"],
            "role": ["child"],
            "n_records": [3],
        }
    )
    records = linked_records_from_rows(rows, _identity(("100", "P1")), people=master)
    assert records.people.loc[0, "birth_date"] == pd.Timestamp("2015-06-02")
    assert list(records.people.columns) == ["person_id", "birth_date", "sex", "role"]
