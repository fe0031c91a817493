"""Load: 64 concurrent clients against /v1/scores while champions are promoted and reloaded and
reviews are written; zero failed requests, zero lost reviews, latency percentiles recorded.

    python -m benchmarks.load [--data-dir var] [--seconds 60] [--clients 64]

Works on a copy of a trained data folder (`make demo` leaves one in ./var; the folder's own
databases are never written): the service database and the MLflow registry are copied into a
work folder, the feature store is linked. A score run is stored first (reviews need one), keys
are created, and `mimamori serve` is started on a free loopback port. Locust (headless, in its
own process) then runs `clients` score clients, each with one request in flight at any time,
plus a few review writers, for `seconds` seconds. Meanwhile:

  * before the run, a new version of the abuse and of the poverty model (the champion's files,
    re-registered) is made challenger, tagged so that it passes the promotion gates;
  * at 30 % of the run, training.registry.promote (what `mimamori promote` runs) moves abuse's
    `champion` to its challenger; the harness then asks the service to reload
    (POST /v1/admin/reload);
  * at 50 %, the same for poverty, without asking: the service's periodic check (every
    `reload_seconds`) must find it on its own.

Afterwards: every review answered 201 must be in the database, both new versions must be
served, and the audit chain must be intact. tests/service/test_load.py runs the same code for a
shorter time; run as a script, the figures are appended to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
LOCUSTFILE = Path(__file__).resolve().parent / "locustfile.py"
PURPOSE = "child_welfare_screening"
REVIEW_WRITERS = 4
PROMOTED = ("abuse", "poverty")  # the first reloaded on request, the second by the periodic check


@dataclass
class LoadReport:
    clients: int
    seconds: float
    requests: int
    failures: int
    requests_per_second: float
    median_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    reviews_written: int
    reviews_lost: list[int]
    review_failures: int
    review_p99_ms: float
    promotions: dict[str, tuple[str, str]]  # hardship -> (old version, new version)
    served_after: dict[str, str]
    reload_answer: dict[str, Any]
    audit_intact: bool
    audit_entries: int
    failure_lines: list[str] = field(default_factory=list)
    timeline: list[str] = field(default_factory=list)

    def rows(self) -> list[str]:
        promoted = ", ".join(
            f"{h} v{old}->v{new} (served v{self.served_after.get(h)})"
            for h, (old, new) in self.promotions.items()
        )
        return [
            "| measure | value |",
            "| --- | ---: |",
            f"| score clients (one request in flight each) | {self.clients} |",
            f"| duration (s) | {self.seconds:.0f} |",
            f"| /v1/scores requests | {self.requests:,} |",
            f"| failed requests | {self.failures} |",
            f"| throughput (requests/s) | {self.requests_per_second:.1f} |",
            f"| latency median / p95 / p99 / max (ms) | {self.median_ms:.0f} / "
            f"{self.p95_ms:.0f} / {self.p99_ms:.0f} / {self.max_ms:.0f} |",
            f"| reviews written (201) / lost / failed | {self.reviews_written} / "
            f"{len(self.reviews_lost)} / {self.review_failures} |",
            f"| review p99 (ms) | {self.review_p99_ms:.0f} |",
            f"| promoted during the run | {promoted} |",
            f"| audit chain | {'intact' if self.audit_intact else 'BROKEN'}, "
            f"{self.audit_entries:,} entries |",
        ]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _backup_sqlite(source: Path, target: Path) -> None:
    origin, copy = sqlite3.connect(source), sqlite3.connect(target)
    try:
        origin.backup(copy)
    finally:
        origin.close()
        copy.close()


def prepare_work_dir(data_dir: Path, work: Path) -> Path:
    """A data folder of our own: copies of both databases, the feature store linked."""
    work.mkdir(parents=True, exist_ok=True)
    _backup_sqlite(data_dir / "mimamori.db", work / "mimamori.db")
    _backup_sqlite(data_dir / "mlflow.db", work / "mlflow.db")
    (work / "features").symlink_to((data_dir / "features").resolve())
    return work


def _env(work: Path, reload_seconds: float) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIMAMORI_")}
    env.update(
        MIMAMORI_DATA_DIR=str(work),
        MIMAMORI_RELOAD_INTERVAL_SECONDS=str(reload_seconds),
        MLFLOW_DISABLE_TELEMETRY="true",
        MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR="false",
        PYTHONUNBUFFERED="1",
    )
    return env


def _bin(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def _tracking_uri(work: Path) -> str:
    return f"sqlite:///{work / 'mlflow.db'}"


def _home_children(work: Path) -> tuple[str, str, list[str]]:
    """The first municipality, its children at the latest month, and that month."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = pq.read_table(
        work / "features" / "features.parquet", columns=["person_id", "as_of_month", "municipality"]
    )
    month = pc.max(table["as_of_month"]).as_py()
    latest = table.filter(pc.equal(table["as_of_month"], month))
    home = sorted(set(latest["municipality"].to_pylist()))[0]
    children = latest.filter(pc.equal(latest["municipality"], home))["person_id"].to_pylist()
    return home, month, children


def _create_keys(work: Path, home: str) -> dict[str, str]:
    from features.store.database import make_engine
    from service.security import create_key
    from service.store.migrate import upgrade

    url = f"sqlite:///{work / 'mimamori.db'}"
    upgrade(url)
    database = make_engine(url)
    try:
        specs: list[tuple[str, str, str | None]] = [
            ("vendor", "vendor_system", home),
            ("reviewer", "reviewer", home),
            ("admin", "admin", None),
        ]
        return {
            name: create_key(
                database, name=f"load-{name}", role=role, municipality=town, created_by="load"
            ).secret
            for name, role, town in specs
        }
    finally:
        database.dispose()


def new_challenger(tracking_uri: str, hardship: str, folder: Path) -> tuple[str, str]:
    """Re-register the champion's files as a new version, aliased challenger, tagged so that
    the promotion gates compare it with the champion on equal terms (it is the same model).
    Returns (champion version, new version)."""
    import mlflow
    from mlflow import MlflowClient

    from models.hardships import registered_model_name
    from models.pyfunc import tracking

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    name = registered_model_name(hardship)
    champion = client.get_model_version_by_alias(name, "champion")
    with tracking(tracking_uri):
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=f"models:/{name}/{champion.version}", dst_path=str(folder)
        )
    version = str(client.create_model_version(name, source=local).version)
    tags = {
        "test.ece": "0.01",
        "test.roc_auc": "0.8",
        "test.recall_at_capacity": "0.5",
        "champion.version": str(champion.version),
        "champion.comparable": "true",
        "champion.roc_auc": "0.8",
        "champion.recall_at_capacity": "0.5",
    }
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, value)
    client.set_registered_model_alias(name, "challenger", version)
    return str(champion.version), version


def wait_ready(base: str, process: subprocess.Popen[bytes], timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the service exited with {process.returncode} before it was ready")
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"the service was not ready within {timeout:.0f} s")


def _served_versions(base: str) -> dict[str, str]:
    body = httpx.get(f"{base}/readyz", timeout=10).json()
    return {h: str(m.get("version")) for h, m in body["models"].items()}


def _stats(prefix: Path) -> dict[str, dict[str, str]]:
    with open(f"{prefix}_stats.csv", newline="", encoding="utf-8") as handle:
        return {row["Name"]: row for row in csv.DictReader(handle)}


def _failure_lines(prefix: Path) -> list[str]:
    path = Path(f"{prefix}_failures.csv")
    if not path.exists():
        return []
    with open(path, newline="", encoding="utf-8") as handle:
        return [
            f"{row['Method']} {row['Name']} x{row['Occurrences']}: {row['Error']}"
            for row in csv.DictReader(handle)
        ]


def _number(row: dict[str, str] | None, column: str) -> float:
    if row is None:
        return 0.0
    value = row.get(column) or "0"
    return float(value) if value != "N/A" else 0.0


def _stored_reviews(work: Path, ids: list[int]) -> set[int]:
    with sqlite3.connect(work / "mimamori.db") as connection:
        return {
            int(row[0])
            for row in connection.execute("SELECT id FROM review").fetchall()
            if int(row[0]) in set(ids)
        }


def _audit(work: Path) -> tuple[bool, int]:
    from features.store.database import make_engine
    from service.audit import verify_chain

    database = make_engine(f"sqlite:///{work / 'mimamori.db'}")
    try:
        verdict = verify_chain(database)
        return verdict.intact, verdict.entries
    finally:
        database.dispose()


def run_load(
    data_dir: Path,
    work: Path,
    *,
    clients: int = 64,
    seconds: float = 60.0,
    reload_seconds: float = 5.0,
    log: Any = print,
) -> LoadReport:
    """The whole load run on a copy of `data_dir` in `work` (which must not exist yet)."""
    work = prepare_work_dir(data_dir, work)
    env = _env(work, reload_seconds)
    timeline: list[str] = []
    began = time.monotonic()

    def note(message: str) -> None:
        line = f"{time.monotonic() - began:6.1f} s  {message}"
        timeline.append(line)
        log(line)

    home, month, children = _home_children(work)
    subprocess.run(
        [_bin("mimamori"), "score", "--as-of", month, "--no-drift", "--data-dir", str(work)],
        env=env,
        check=True,
        capture_output=True,
        timeout=600,
    )
    keys = _create_keys(work, home)
    note(f"score run for {month} stored; {len(children)} children of {home}")

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server_log = open(work / "serve.log", "wb")  # noqa: SIM115
    server = subprocess.Popen(
        [_bin("mimamori"), "serve", "--port", str(port), "--log-level", "warning"],
        env=env,
        stdout=server_log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_ready(base, server)
        routes = httpx.get(f"{base}/openapi.json", timeout=10).json()["paths"]
        reviews_route = "/v1/reviews" in routes
        from models.hardships import load_hardship_registry

        config = {
            "keys": keys,
            "children": children,
            "hardships": list(load_hardship_registry().ids),
            "purpose": PURPOSE,
            "reviews_file": str(work / "reviews.txt"),
            "review_writers": REVIEW_WRITERS,
            "reviews_route": reviews_route,
        }
        (work / "load.json").write_text(json.dumps(config))
        # The new versions are registered before the load starts; promoting one during the run
        # is then what `mimamori promote` does: the gates, the tags and one alias move.
        challengers = {
            hardship: new_challenger(_tracking_uri(work), hardship, work / f"versions-{hardship}")
            for hardship in PROMOTED
        }
        (work / "reviews.txt").write_text("")
        note(f"service ready on {base}; starting locust")
        prefix = work / "locust"
        users = clients + REVIEW_WRITERS
        locust = subprocess.Popen(
            [
                _bin("locust"),
                "-f",
                str(LOCUSTFILE),
                "--headless",
                "--users",
                str(users),
                "--spawn-rate",
                str(users),
                "--run-time",
                f"{seconds:.0f}s",
                "--host",
                base,
                "--csv",
                str(prefix),
                "--only-summary",
                "--loglevel",
                "WARNING",
                "--stop-timeout",
                "10",
            ],
            env={**env, "MIMAMORI_LOAD_CONFIG": str(work / "load.json")},
            stdout=subprocess.DEVNULL,
            stderr=open(work / "locust.log", "wb"),  # noqa: SIM115
            start_new_session=True,
        )
        started = time.monotonic()
        promotions: dict[str, tuple[str, str]] = {}
        reload_answer: dict[str, Any] = {}
        error: list[BaseException] = []

        def promote_during_the_run() -> None:
            from training.registry import promote

            try:
                for hardship, at in zip(PROMOTED, (0.3, 0.5), strict=True):
                    time.sleep(max(0.0, started + at * seconds - time.monotonic()))
                    decision = promote(hardship, _tracking_uri(work))
                    if not decision.promoted:
                        raise RuntimeError(f"{hardship} not promoted: {decision.reasons}")
                    old, new = challengers[hardship]
                    promotions[hardship] = (old, new)
                    note(f"{hardship}: champion v{old} -> v{new} promoted")
                    if hardship == PROMOTED[0]:
                        answer = httpx.post(
                            f"{base}/v1/admin/reload",
                            headers={"X-API-Key": keys["admin"]},
                            timeout=120,
                        )
                        answer.raise_for_status()
                        reload_answer.update(answer.json())
                        note(f"reload asked: {answer.json().get('versions')}")
            except BaseException as failure:
                error.append(failure)

        promoter = threading.Thread(target=promote_during_the_run, daemon=True)
        promoter.start()
        locust.wait(timeout=seconds + 120)
        promoter.join(timeout=120)
        note(f"locust finished ({locust.returncode})")
        if error:
            raise error[0]
        # The periodic check must have found the second promotion by now (or within a period).
        deadline = time.monotonic() + 3 * reload_seconds + 10
        served = _served_versions(base)
        while time.monotonic() < deadline and any(
            served.get(h) != new for h, (_, new) in promotions.items()
        ):
            time.sleep(0.5)
            served = _served_versions(base)
        note(f"served after the run: {served}")
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        server_log.close()

    stats = _stats(prefix)
    scores = stats.get("/v1/scores")
    reviews = stats.get("/v1/reviews")
    written = [int(x) for x in (work / "reviews.txt").read_text().split()]
    stored = _stored_reviews(work, written)
    intact, entries = _audit(work)
    return LoadReport(
        clients=clients,
        seconds=seconds,
        requests=int(_number(scores, "Request Count")),
        failures=int(_number(scores, "Failure Count")),
        requests_per_second=_number(scores, "Requests/s"),
        median_ms=_number(scores, "50%"),
        p95_ms=_number(scores, "95%"),
        p99_ms=_number(scores, "99%"),
        max_ms=_number(scores, "Max Response Time"),
        reviews_written=len(written),
        reviews_lost=sorted(set(written) - stored),
        review_failures=int(_number(reviews, "Failure Count")),
        review_p99_ms=_number(reviews, "99%"),
        promotions=promotions,
        served_after=served,
        reload_answer=reload_answer,
        audit_intact=intact,
        audit_entries=entries,
        failure_lines=_failure_lines(prefix),
        timeline=timeline,
    )


def main() -> None:
    from benchmarks.common import append_results

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(os.environ.get("MIMAMORI_DATA_DIR", ROOT / "var")),
        help="A trained data folder (as `make demo` leaves it).",
    )
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--reload-seconds", type=float, default=10.0)
    parser.add_argument(
        "--no-record", action="store_true", help="Print the table only (docs untouched)."
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mimamori-load-") as folder:
        report = run_load(
            args.data_dir,
            Path(folder) / "work",
            clients=args.clients,
            seconds=args.seconds,
            reload_seconds=args.reload_seconds,
        )
    for line in [*report.rows(), *report.timeline, *report.failure_lines]:
        print(line)
    if not args.no_record:
        append_results(
            "API under load: promotions and reviews during the run",
            [
                *report.rows(),
                "",
                f"Locust {_locust_version()} (headless, FastHttpUser) against `mimamori serve` "
                f"(one uvicorn worker) on loopback, sharing the machine; /v1/scores for one child "
                f"with explanations (top 3); {REVIEW_WRITERS} review writers beside the score "
                f"clients; champions reloaded on request and by the periodic check every "
                f"{args.reload_seconds:.0f} s. Percentiles are Locust's (rounded above 100 ms).",
            ],
            "benchmarks.load",
        )
    if report.failures or report.reviews_lost or report.review_failures:
        sys.exit(1)


def _locust_version() -> str:
    from importlib.metadata import version

    return version("locust")


if __name__ == "__main__":
    main()
