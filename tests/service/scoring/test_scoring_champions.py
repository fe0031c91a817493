"""Champion reloads: a promoted version is served without a restart, a broken one is not.

Registry tests work on a copy of the served world's MLflow database, so the promotions they
make stay theirs; new versions point at copies of a champion's files in the test's own folder
(never at the shared artifacts, which the corruption test would otherwise damage).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from models.hardships import load_hardship_registry, registered_model_name
from service.scoring.champions import Champions
from service.scoring.engine import ScoringEngine

HARDSHIPS = load_hardship_registry().ids


@pytest.fixture
def tracking_copy(served_world, tmp_path: Path) -> str:  # type: ignore[no-untyped-def]
    database = Path(served_world.tracking_uri.removeprefix("sqlite:///"))
    shutil.copy(database, tmp_path / "mlflow.db")
    return f"sqlite:///{tmp_path / 'mlflow.db'}"


def _client(uri: str):  # type: ignore[no-untyped-def]
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _new_version(uri: str, hardship: str, folder: Path, *, corrupt: bool = False) -> str:
    """A new registered version with the champion's files copied into `folder`."""
    import mlflow

    from models.pyfunc import tracking

    name = registered_model_name(hardship)
    client = _client(uri)
    champion = client.get_model_version_by_alias(name, "champion")
    with tracking(uri):
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=f"models:/{name}/{champion.version}", dst_path=str(folder)
        )
    if corrupt:
        (Path(local) / "artifacts" / "bundle" / "model.txt").write_text("not a model\n")
    return str(client.create_model_version(name, source=local).version)


def _promote(uri: str, hardship: str, version: str) -> None:
    """Promote through training's own gate, with the comparison tags training would write."""
    from training.config import PromotionGates
    from training.registry import CHALLENGER, promote

    name = registered_model_name(hardship)
    client = _client(uri)
    champion = client.get_model_version_by_alias(name, "champion").version
    tags = {
        "test.ece": "0.01",
        "test.roc_auc": "0.8",
        "test.recall_at_capacity": "0.5",
        "champion.version": str(champion),
        "champion.comparable": "true",
        "champion.roc_auc": "0.8",
        "champion.recall_at_capacity": "0.5",
    }
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, value)
    client.set_registered_model_alias(name, CHALLENGER, version)
    decision = promote(hardship, uri, PromotionGates(max_ece=1.0))
    assert decision.promoted, decision.reasons


def _engine(uri: str, served_world) -> ScoringEngine:  # type: ignore[no-untyped-def]
    engine = ScoringEngine(Champions(uri, HARDSHIPS), served_world.features_dir)
    engine.reload()
    assert engine.ready
    return engine


def _any_row(engine: ScoringEngine):  # type: ignore[no-untyped-def]
    municipality = engine.municipalities()[0]
    child = engine.population(engine.latest_month or "", municipality, "abuse").child_ids[0]
    return engine.feature_row(child)


def test_a_promoted_champion_is_served_after_reload(tracking_copy, served_world, tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine = _engine(tracking_copy, served_world)
    before = engine.model_version("abuse")
    in_flight = engine.champions.snapshot
    row = _any_row(engine)
    (old,) = engine.score([row], ["abuse"])

    version = _new_version(tracking_copy, "abuse", tmp_path / "v-new")
    _promote(tracking_copy, "abuse", version)
    report = engine.reload()

    assert report["abuse"] == f"loaded v{version} (was v{before})"
    assert report["poverty"].startswith("unchanged")
    assert engine.model_version("abuse") == version
    assert engine.status()["abuse"].version == version
    (new,) = engine.score([row], ["abuse"])
    assert new.scores["abuse"].model_version == version
    # Same files, so the same score: nothing but the version changed.
    assert new.scores["abuse"].probability == pytest.approx(old.scores["abuse"].probability)
    # A request that took the snapshot before the swap still holds the old model.
    assert in_flight.get("abuse").version == before
    assert (
        engine.population(engine.latest_month, row.municipality, "abuse").model_version == version
    )


def test_a_corrupt_artifact_keeps_the_previous_champion(
    tracking_copy, served_world, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    engine = _engine(tracking_copy, served_world)
    before = engine.model_version("truancy")
    version = _new_version(tracking_copy, "truancy", tmp_path / "v-bad", corrupt=True)
    _client(tracking_copy).set_registered_model_alias(
        registered_model_name("truancy"), "champion", version
    )
    report = engine.reload()

    assert f"v{version} could not be loaded" in report["truancy"]
    assert report["truancy"].endswith(f"keeps v{before}")
    status = engine.status()["truancy"]
    assert status.ready and status.version == before
    assert status.reason is not None and f"v{version}" in status.reason
    (scored,) = engine.score([_any_row(engine)], ["truancy"])
    assert scored.scores["truancy"].model_version == before


# -- without a registry: injected lookups and loaders -----------------------------------------


class FakeRegistry:
    def __init__(self, bundle) -> None:  # type: ignore[no-untyped-def]
        self.bundle = bundle
        self.aliases: dict[str, str | None] = {}
        self.broken: set[str] = set()
        self.loads: list[str] = []
        self.down = False

    def lookup(self, name: str, alias: str) -> str | None:
        if self.down:
            raise ConnectionError("registry unreachable")
        return self.aliases.get(name)

    def load(self, uri: str):  # type: ignore[no-untyped-def]
        self.loads.append(uri)
        if uri in self.broken:
            raise OSError("artifact missing")
        return self.bundle


@pytest.fixture
def fake(scoring_engine) -> FakeRegistry:  # type: ignore[no-untyped-def]
    import copy

    bundle = copy.copy(scoring_engine.champions.snapshot.get("abuse").bundle)
    bundle.metadata = {**bundle.metadata, "hardship": "abuse"}
    return FakeRegistry(bundle)


def _champions(fake: FakeRegistry, **options) -> Champions:  # type: ignore[no-untyped-def]
    return Champions("unused://", ("abuse",), lookup=fake.lookup, loader=fake.load, **options)


def test_no_alias_means_not_ready_with_the_reason(fake: FakeRegistry) -> None:
    champions = _champions(fake)
    report = champions.reload()
    status = champions.snapshot.statuses["abuse"]
    assert not status.ready and status.version is None
    assert "no 'champion' alias" in (status.reason or "") and report["abuse"] == status.reason


def test_a_failed_version_is_retried_only_after_the_backoff(fake: FakeRegistry) -> None:
    name = registered_model_name("abuse")
    fake.aliases[name] = "7"
    fake.broken.add(f"models:/{name}/7")
    champions = _champions(fake, retry_after_seconds=3600)
    champions.reload()
    champions.reload()
    assert fake.loads == [f"models:/{name}/7"]
    status = champions.snapshot.statuses["abuse"]
    assert not status.ready and "artifact missing" in (status.reason or "")
    fake.broken.clear()
    champions.reload(force_retry=True)
    assert champions.snapshot.statuses["abuse"].ready
    assert champions.snapshot.get("abuse").version == "7"


def test_an_unreachable_registry_keeps_what_is_serving(fake: FakeRegistry) -> None:
    fake.aliases[registered_model_name("abuse")] = "3"
    champions = _champions(fake)
    champions.reload()
    fake.down = True
    report = champions.reload()
    assert "cannot be read" in report["abuse"]
    assert champions.snapshot.statuses["abuse"].ready
    assert champions.snapshot.get("abuse").version == "3"


def test_a_bundle_of_another_hardship_is_refused(fake: FakeRegistry) -> None:
    fake.bundle.metadata = {**fake.bundle.metadata, "hardship": "poverty"}
    fake.aliases[registered_model_name("abuse")] = "2"
    champions = _champions(fake)
    champions.reload()
    assert not champions.snapshot.statuses["abuse"].ready
    assert "'poverty' model" in (champions.snapshot.statuses["abuse"].reason or "")


def test_snapshots_are_replaced_not_changed(fake: FakeRegistry) -> None:
    fake.aliases[registered_model_name("abuse")] = "1"
    champions = _champions(fake)
    champions.reload()
    first = champions.snapshot
    fake.aliases[registered_model_name("abuse")] = "2"
    champions.reload()
    assert first.get("abuse").version == "1"
    assert champions.snapshot.get("abuse").version == "2"
    assert champions.snapshot.generation == first.generation + 1
    assert np.isfinite(
        champions.snapshot.get("abuse").bundle.score(np.zeros((1, fake.bundle.n_features)))
    ).all()
