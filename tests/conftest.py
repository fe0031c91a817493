"""Shared fixtures: one tiny synthetic population per test session, generated once, and the
served world built from it (every stage run once) for the service and notebook tests."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@pytest.fixture(scope="session")
def tiny_profile():  # type: ignore[no-untyped-def]
    from synthetic.profiles import resolve_profile

    return resolve_profile("tiny", seed=11)


@pytest.fixture(scope="session")
def tiny_world(tiny_profile):  # type: ignore[no-untyped-def]
    from synthetic.generator import build_world

    return build_world(tiny_profile)


@pytest.fixture(scope="session")
def tiny_population(tmp_path_factory: pytest.TempPathFactory, tiny_profile) -> Path:  # type: ignore[no-untyped-def]
    """A generated tiny population on disk (extracts and ground truth)."""
    from synthetic.generator import generate

    root = tmp_path_factory.mktemp("tiny-population")
    generate(tiny_profile, root)
    return root


@pytest.fixture
def empty_postgres() -> Iterator[Engine]:
    """An engine whose search_path is a fresh, empty PostgreSQL schema, dropped afterwards.

    Reads MIMAMORI_TEST_DATABASE_URL; skips, saying why, only when no server answers.
    """
    from features.store.database import make_engine

    url = os.environ.get("MIMAMORI_TEST_DATABASE_URL", DEFAULT_POSTGRES_URL)
    admin = make_engine(url, connect_args={"connect_timeout": 5})
    try:
        with admin.connect():
            pass
    except OperationalError as error:
        admin.dispose()
        pytest.skip(f"no PostgreSQL server answers at {url}: {error.orig}")
    schema = f"mimamori_test_{uuid.uuid4().hex[:12]}"
    with admin.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    engine = make_engine(url, connect_args={"options": f"-csearch_path={schema}"})
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


# -- the served world ------------------------------------------------------------------------------
# A served world for the service tests: the tiny population run through every stage once.
#
# Synthesis, ingestion, linkage, features, training and promotion run once per session into a
# temporary data folder, exactly as `mimamori demo` runs them. Tiny populations give noisy
# calibration, so a hardship whose challenger misses the calibration gate is promoted with a
# relaxed gate here: the service tests need a champion for every hardship, and the gate itself is
# tested in tests/training.


@dataclass(frozen=True)
class ServedWorld:
    data_dir: Path
    database_url: str
    tracking_uri: str
    features_dir: Path


@pytest.fixture(scope="session")
def served_world(tmp_path_factory: pytest.TempPathFactory, tiny_population: Path) -> ServedWorld:
    from mimamori import cli
    from models.hardships import load_hardship_registry
    from training.config import PromotionGates
    from training.registry import CHAMPION, current_champions, promote

    data_dir = tmp_path_factory.mktemp("served") / "var"
    shutil.copytree(tiny_population, data_dir)
    cli.ingest(extracts=None, data_dir=data_dir)
    cli.link(data_dir=data_dir)
    cli.features(first="2022-04", last="2026-03", purpose=None, horizon=6, data_dir=data_dir)
    cli.train(hardship=None, data_dir=data_dir)
    settings = cli._settings(data_dir)
    tracking_uri = settings.resolved_mlflow_tracking_uri
    relaxed = PromotionGates(max_ece=1.0, roc_auc_tolerance=1.0, recall_tolerance=1.0)
    for hardship in load_hardship_registry().ids:
        promote(hardship, tracking_uri, relaxed)
    ids = load_hardship_registry().ids
    missing = set(ids) - set(current_champions(tracking_uri, ids))
    assert not missing, f"no {CHAMPION} for {sorted(missing)}"
    return ServedWorld(
        data_dir=data_dir,
        database_url=settings.resolved_database_url,
        tracking_uri=tracking_uri,
        features_dir=data_dir / "features",
    )
