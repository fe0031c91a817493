"""SIGKILL in the middle of `mimamori ingest`, `mimamori score` and `mimamori promote`.

Each command runs in a child process (tests/mimamori/faults.py) that stops at a chosen point
inside its work: after the third extract was written into the ingest's open transaction, after
the first chunk of scores was inserted into the run's final transaction, just before or just
after the registry's `champion` alias moves. The test waits for that point, kills the child with
SIGKILL (no handler, no rollback, no clean-up), and then checks what a restarted system sees:

  * ingest: the store holds exactly what it held before (same files, same rows per file, same
    indexes, an intact database file), and a rerun ends with the same rows as a clean run;
  * score: no succeeded run with partial rows; readers (the API's flagged lists) see the
    previous good run; a rerun succeeds with every row;
  * promote: `champion` points at a complete, loadable version (the old one or the new one),
    a rerun finishes the promotion, and a service started afterwards serves that version.

Database outages (503, recovery without restart) are tested in tests/service/test_app.py, and
a corrupt or missing artifact of a newly promoted version in
tests/service/scoring/test_scoring_champions.py; not repeated here.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


# -- helpers ---------------------------------------------------------------------------------


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIMAMORI_")}
    env.update(
        MIMAMORI_DATA_DIR=str(data_dir),
        MLFLOW_DISABLE_TELEMETRY="true",
        MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR="false",
        PYTHONPATH=str(ROOT),
        **extra,
    )
    return env


def kill_at(
    data_dir: Path,
    args: list[str],
    *,
    target: str,
    when: str = "after",
    call: int = 1,
    timeout: float = 240.0,
) -> str:
    """Run `mimamori ARGS` until it reaches `target` (see faults.py), then SIGKILL it.

    Returns what the child said about where it stopped. Fails if the child ended on its own.
    """
    marker = data_dir.parent / f"fault-{time.monotonic_ns()}.marker"
    log = data_dir.parent / f"{marker.stem}.log"
    env = _env(
        data_dir,
        MIMAMORI_FAULT_TARGET=target,
        MIMAMORI_FAULT_WHEN=when,
        MIMAMORI_FAULT_CALL=str(call),
        MIMAMORI_FAULT_MARKER=str(marker),
    )
    with open(log, "wb") as output:
        child = subprocess.Popen(
            [sys.executable, "-m", "tests.mimamori.faults", *args, "--data-dir", str(data_dir)],
            env=env,
            cwd=ROOT,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        try:
            while not marker.exists():
                if child.poll() is not None:
                    pytest.fail(
                        f"`mimamori {' '.join(args)}` ended ({child.returncode}) before "
                        f"{target}:\n{log.read_text(errors='replace')[-3000:]}"
                    )
                if time.monotonic() > deadline:
                    pytest.fail(f"`mimamori {' '.join(args)}` never reached {target}")
                time.sleep(0.05)
            assert child.poll() is None
            child.send_signal(signal.SIGKILL)
        finally:
            if child.poll() is None:
                child.kill()
            child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    return marker.read_text().strip()


def _mimamori(data_dir: Path, *args: str) -> str:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "mimamori"), *args, "--data-dir", str(data_dir)],
        env=_env(data_dir),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def _integrity(database: Path) -> str:
    with sqlite3.connect(database) as connection:
        return str(connection.execute("PRAGMA integrity_check").fetchone()[0])


def _query(database: Path, sql: str) -> list[tuple[Any, ...]]:
    connection = sqlite3.connect(database)
    try:
        return connection.execute(sql).fetchall()
    finally:
        connection.close()


def _backup(source: Path, target: Path) -> None:
    origin, copy = sqlite3.connect(source), sqlite3.connect(target)
    try:
        origin.backup(copy)
    finally:
        origin.close()
        copy.close()


# -- ingest ----------------------------------------------------------------------------------


def _store_state(database: Path) -> dict[str, Any]:
    """What a reader of the store sees: files, rows and quarantined rows per file, indexes."""
    per_file = _query(
        database,
        """
        SELECT f.relative_path, f.sha256,
               (SELECT count(*) FROM source_record r WHERE r.source_file_id = f.id),
               (SELECT count(*) FROM quarantine q WHERE q.source_file_id = f.id)
        FROM source_file f ORDER BY f.relative_path
        """,
    )
    return {
        "files": per_file,
        "records": _query(database, "SELECT count(*) FROM source_record")[0][0],
        "quarantined": _query(database, "SELECT count(*) FROM quarantine")[0][0],
        "indexes": sorted(row[1] for row in _query(database, "PRAGMA index_list('source_record')")),
    }


def test_a_killed_ingest_leaves_the_previous_state_and_a_rerun_completes_it(
    tiny_population: Path, tmp_path: Path
) -> None:
    extracts = tiny_population / "extracts"
    municipalities = sorted(p.name for p in extracts.iterdir() if p.is_dir())
    assert len(municipalities) >= 2

    # A clean run of everything, for reference.
    clean = tmp_path / "clean" / "var"
    clean.mkdir(parents=True)
    shutil.copytree(extracts, clean / "extracts")
    _mimamori(clean, "ingest")
    reference = _store_state(clean / "mimamori.db")
    assert reference["records"] > 10_000

    # The previous good state: one municipality's extracts loaded.
    data_dir = tmp_path / "faulty" / "var"
    (data_dir / "extracts").mkdir(parents=True)
    shutil.copytree(extracts / municipalities[0], data_dir / "extracts" / municipalities[0])
    _mimamori(data_dir, "ingest")
    database = data_dir / "mimamori.db"
    before = _store_state(database)
    assert 0 < before["records"] < reference["records"]

    # The next delivery arrives; the ingest is killed after its third file was written.
    for municipality in municipalities[1:]:
        shutil.copytree(extracts / municipality, data_dir / "extracts" / municipality)
    where = kill_at(
        data_dir, ["ingest"], target="features.ingest.run:_ingest_file", when="after", call=3
    )
    assert "call 3" in where

    assert _integrity(database) == "ok"
    assert _store_state(database) == before, "the killed ingest left rows behind"
    statuses = [row[0] for row in _query(database, "SELECT status FROM ingest_run ORDER BY id")]
    assert statuses == ["succeeded", "running"], "the killed run is not recorded as succeeded"

    _mimamori(data_dir, "ingest")
    after = _store_state(database)
    assert after == reference, "a rerun after the kill must end where a clean run ends"
    assert _query(database, "SELECT status FROM ingest_run ORDER BY id DESC LIMIT 1") == [
        ("succeeded",)
    ]


# -- score -----------------------------------------------------------------------------------


def _served_copy(served_world: Any, folder: Path) -> Path:
    data_dir = folder / "var"
    data_dir.mkdir(parents=True)
    _backup(Path(served_world.database_url.removeprefix("sqlite:///")), data_dir / "mimamori.db")
    shutil.copy(served_world.tracking_uri.removeprefix("sqlite:///"), data_dir / "mlflow.db")
    (data_dir / "features").symlink_to(served_world.features_dir)
    return data_dir


def _runs(database: Path) -> list[tuple[int, str, int]]:
    return [
        (int(run_id), str(status), int(rows))
        for run_id, status, rows in _query(
            database,
            """
            SELECT r.id, r.status, (SELECT count(*) FROM child_score s WHERE s.run_id = r.id)
            FROM score_run r ORDER BY r.id
            """,
        )
    ]


def _latest_children(data_dir: Path) -> tuple[list[str], str, str]:
    """The feature store's months, its first municipality and one child of it at the latest."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = pq.read_table(
        data_dir / "features" / "features.parquet",
        columns=["person_id", "as_of_month", "municipality"],
    )
    months = sorted(set(table["as_of_month"].to_pylist()))
    latest = table.filter(pc.equal(table["as_of_month"], months[-1]))
    home = min(latest["municipality"].to_pylist())
    child = latest.filter(pc.equal(latest["municipality"], home))["person_id"][0].as_py()
    return months, home, child


Check = Callable[[Any, dict[str, str], str], None]


def _with_service(data_dir: Path, work: Check) -> None:
    """A freshly started service on `data_dir` (in-process), with an admin and a reviewer key."""
    from fastapi.testclient import TestClient

    from features.store.database import make_engine
    from service.app import create_app
    from service.security import create_key
    from service.settings import ServiceSettings
    from service.store.migrate import upgrade

    url = f"sqlite:///{data_dir / 'mimamori.db'}"
    settings = ServiceSettings(
        data_dir=data_dir,
        database_url=url,
        mlflow_tracking_uri=f"sqlite:///{data_dir / 'mlflow.db'}",
        reload_interval_seconds=3600,
    )
    upgrade(url)
    database = make_engine(url)
    home = _latest_children(data_dir)[1]
    try:
        keys = {
            "admin": create_key(
                database, name="f-admin", role="admin", municipality=None, created_by="t"
            ).secret,
            "reviewer": create_key(
                database, name="f-rev", role="reviewer", municipality=home, created_by="t"
            ).secret,
        }
    finally:
        database.dispose()
    with TestClient(create_app(settings)) as client:
        work(client, keys, home)


def test_a_killed_score_run_leaves_no_partial_rows_and_readers_keep_the_good_run(
    served_world: Any,
    tmp_path: Path,
) -> None:
    data_dir = _served_copy(served_world, tmp_path)
    database = data_dir / "mimamori.db"
    previous, latest = _latest_children(data_dir)[0][-2:]

    _mimamori(data_dir, "score", "--as-of", previous, "--no-drift")
    (good,) = _runs(database)
    assert good[1] == "succeeded" and good[2] > 1000

    where = kill_at(
        data_dir,
        ["score", "--as-of", latest, "--no-drift"],
        target="service.batch:_insert_chunk",
        when="after",
        call=1,
    )
    assert "call 1" in where
    assert _integrity(database) == "ok"
    runs = _runs(database)
    assert runs[0] == good, "the good run was changed"
    assert runs[1][1:] == ("running", 0), f"the killed run must stay running, rowless: {runs}"

    def readers_see_the_good_run(client: Any, keys: dict[str, str], home: str) -> None:
        answer = client.get(
            f"/v1/municipalities/{home}/flagged",
            headers={"X-API-Key": keys["reviewer"], "X-Purpose": "case_conference"},
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["run_id"] == good[0]
        listed = client.get("/v1/runs", headers={"X-API-Key": keys["admin"]})
        assert listed.status_code == 200, listed.text

    _with_service(data_dir, readers_see_the_good_run)

    _mimamori(data_dir, "score", "--as-of", latest, "--no-drift")
    runs = _runs(database)
    assert [status for _, status, _ in runs] == ["succeeded", "running", "succeeded"]
    assert runs[2][2] > 1000 and runs[1][2] == 0

    def readers_see_the_new_run(client: Any, keys: dict[str, str], home: str) -> None:
        answer = client.get(
            f"/v1/municipalities/{home}/flagged",
            headers={"X-API-Key": keys["reviewer"], "X-Purpose": "case_conference"},
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["run_id"] == runs[2][0]

    _with_service(data_dir, readers_see_the_new_run)


# -- promote ---------------------------------------------------------------------------------


def _aliases(tracking: Path, name: str) -> dict[str, str]:
    return {
        alias: str(version)
        for alias, version in _query(
            tracking, f"SELECT alias, version FROM registered_model_aliases WHERE name = '{name}'"
        )
    }


@pytest.mark.parametrize(
    ("when", "expect"),
    [("before", "old"), ("after", "new")],
    ids=["before-the-alias-moves", "after-the-alias-moved"],
)
def test_a_killed_promotion_leaves_a_complete_champion_that_a_restarted_service_serves(
    served_world: Any,
    tmp_path: Path,
    when: str,
    expect: str,
) -> None:
    from benchmarks.load import new_challenger
    from models.pyfunc import load_bundle

    data_dir = _served_copy(served_world, tmp_path)
    tracking = data_dir / "mlflow.db"
    uri = f"sqlite:///{tracking}"
    name = "mimamori-abuse"
    old, new = new_challenger(uri, "abuse", tmp_path / "new-version")
    assert _aliases(tracking, name) == {"champion": old, "challenger": new}

    where = kill_at(
        data_dir,
        ["promote", "--hardship", "abuse"],
        target="mlflow.tracking.client:MlflowClient.set_registered_model_alias",
        when=when,
        call=1,
    )
    assert when in where
    assert _integrity(tracking) == "ok"
    champion = _aliases(tracking, name)["champion"]
    assert champion == (old if expect == "old" else new)
    bundle = load_bundle(f"models:/{name}@champion", uri)  # complete: it loads
    assert bundle.metadata["hardship"] == "abuse"

    # A service (re)started now serves the champion the registry names.
    child = _latest_children(data_dir)[2]

    def serves(version: str) -> Check:
        def check(client: Any, keys: dict[str, str], home: str) -> None:
            ready = client.get("/readyz")
            assert ready.status_code == 200, ready.text
            assert ready.json()["models"]["abuse"]["version"] == version
            scored = client.post(
                "/v1/scores",
                json={"children": [{"child_id": child}], "hardships": ["abuse"]},
                headers={"X-API-Key": keys["admin"], "X-Purpose": "case_conference"},
            )
            assert scored.status_code == 200, scored.text
            model_version = scored.json()["results"][0]["scores"]["abuse"]["model_version"]
            assert str(model_version) == version

        return check

    _with_service(data_dir, serves(champion))

    _mimamori(data_dir, "promote", "--hardship", "abuse")
    assert _aliases(tracking, name)["champion"] == new
    _with_service(data_dir, serves(new))
