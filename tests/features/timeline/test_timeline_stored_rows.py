"""The column-wise store reader gives exactly what the generic row path gives, on any store."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import Engine, select, update

from features.ingest.catalogue import load_catalogue
from features.ingest.run import ingest_extracts
from features.store.database import make_engine
from features.store.migrate import upgrade
from features.store.models import SourceRecord
from features.timeline.adapters import linked_records_from_rows, linked_records_from_store
from features.timeline.records import LinkedRecords
from features.timeline.stored_rows import (
    BASE_COLUMNS,
    expand_payloads,
    read_sources,
    stored_rows,
)
from tests.features.timeline.perfect_linkage import RUN_DATE, identity_map_from_ground_truth


@pytest.fixture(scope="module")
def tiny_store(tiny_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny population ingested into a SQLite file, read-only (tests copy it to modify)."""
    path = tmp_path_factory.mktemp("stored-rows") / "store.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    ingest_extracts(tiny_root / "extracts", engine, today=RUN_DATE)
    engine.dispose()
    return path


@pytest.fixture
def store(tiny_store: Path, tmp_path: Path) -> Iterator[Engine]:
    path = tmp_path / "store.db"
    shutil.copy(tiny_store, path)
    engine = make_engine(f"sqlite:///{path}")
    yield engine
    engine.dispose()


def _generic(engine: Engine) -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
    """What the generic path makes of every source: base columns and typed payload columns."""
    catalogue = load_catalogue()
    with engine.connect() as connection:
        rows = stored_rows(connection)
    out = {}
    for source, group in rows.groupby("source", sort=True):
        base = group[list(BASE_COLUMNS)].assign(
            event_date=pd.to_datetime(group["event_date"]),
            known_date=pd.to_datetime(group["known_date"]),
        )
        payload = expand_payloads(group, catalogue.sources[str(source)])
        out[str(source)] = (base.reset_index(drop=True), payload.reset_index(drop=True))
    return out


def _columnar(engine: Engine, chunk_rows: int) -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
    with engine.connect() as connection:
        return {
            source: (base, payload)
            for source, base, payload in read_sources(
                connection, load_catalogue(), chunk_rows=chunk_rows
            )
        }


def _assert_same_sources(
    ours: dict[str, tuple[pd.DataFrame, pd.DataFrame]],
    generic: dict[str, tuple[pd.DataFrame, pd.DataFrame]],
) -> None:
    assert list(ours) == list(generic)
    for source, (base, payload) in generic.items():
        pd.testing.assert_frame_equal(ours[source][0], base, check_exact=True, obj=source)
        pd.testing.assert_frame_equal(ours[source][1], payload, check_exact=True, obj=source)


def _assert_same_records(ours: LinkedRecords, generic: LinkedRecords) -> None:
    assert list(ours.sources) == list(generic.sources)
    for source, frame in generic.sources.items():
        pd.testing.assert_frame_equal(ours.sources[source], frame, check_exact=True, obj=source)
    pd.testing.assert_frame_equal(ours.people, generic.people, check_exact=True)
    pd.testing.assert_frame_equal(ours.residence, generic.residence, check_exact=True)
    assert ours.unlinked_rows == generic.unlinked_rows


def _edit_payloads(engine: Engine, source: str, change: Any, limit: int | None = None) -> None:
    """Rewrite payloads of `source` through the ORM, as any store (SQLite, PostgreSQL) takes it."""
    query = select(SourceRecord.id, SourceRecord.payload).where(SourceRecord.source == source)
    with engine.begin() as connection:
        rows = connection.execute(query.order_by(SourceRecord.id).limit(limit)).all()
        for record_id, payload in rows:
            connection.execute(
                update(SourceRecord)
                .where(SourceRecord.id == record_id)
                .values(payload=change(dict(payload)))
            )


@pytest.mark.slow
@pytest.mark.parametrize("chunk_rows", [97, 100_000])
def test_columns_read_in_slices_are_the_generic_rows(store: Engine, chunk_rows: int) -> None:
    _assert_same_sources(_columnar(store, chunk_rows), _generic(store))


@pytest.mark.slow
def test_linked_records_from_the_store_are_those_from_its_rows(
    store: Engine, tiny_root: Path
) -> None:
    identity = identity_map_from_ground_truth(tiny_root / "ground_truth")
    ours = linked_records_from_store(store, identity)
    with store.connect() as connection:
        generic = linked_records_from_rows(stored_rows(connection), identity, holdings={})
    _assert_same_records(ours, generic)


@pytest.mark.slow
def test_a_payload_off_the_schema_sends_its_source_down_the_generic_path(store: Engine) -> None:
    # A number where the catalogue says text, and text where it says a number: the block
    # reader refuses both; the generic path makes "12345" and 3.0 of them as it always did.
    _edit_payloads(store, "tax", lambda p: {**p, "atena_no": 12345}, limit=1)
    _edit_payloads(store, "epds", lambda p: {**p, "epds_score": "3"}, limit=1)
    ours = _columnar(store, 97)
    _assert_same_sources(ours, _generic(store))
    assert ours["tax"][1].loc[0, "atena_no"] == "12345"
    assert ours["epds"][1].loc[0, "epds_score"] == 3.0


@pytest.mark.slow
def test_a_column_no_payload_fills_has_the_generic_dtypes(store: Engine) -> None:
    def without(*keys: str) -> Any:
        return lambda p: {k: v for k, v in p.items() if k not in keys}

    _edit_payloads(store, "child_protection", without("closed_on", "main_reason"))
    _edit_payloads(store, "epds", without("epds_score"))
    ours = _columnar(store, 97)
    _assert_same_sources(ours, _generic(store))
    assert ours["epds"][1]["epds_score"].isna().all()


@pytest.mark.slow
def test_screening_reads_only_the_sources_it_may_use(store: Engine) -> None:
    with store.connect() as connection:
        read = [s for s, _, _ in read_sources(connection, load_catalogue(), ["attendance"])]
    assert read == ["attendance"]


@pytest.mark.slow
@pytest.mark.postgres
def test_postgres_store_reads_as_the_generic_rows(
    empty_postgres: Engine, tiny_root: Path, store: Engine
) -> None:
    upgrade(empty_postgres)
    ingest_extracts(tiny_root / "extracts", empty_postgres, today=RUN_DATE)
    generic = _generic(empty_postgres)
    _assert_same_sources(_columnar(empty_postgres, 97), generic)
    # jsonb's text differs from SQLite's; what is read from it must not.
    _assert_same_sources(_columnar(store, 100_000), generic)
    identity = identity_map_from_ground_truth(tiny_root / "ground_truth")
    _assert_same_records(
        linked_records_from_store(empty_postgres, identity),
        linked_records_from_store(store, identity),
    )
