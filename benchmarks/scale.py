"""The Dask paths against the in-process ones on one population: seconds and peak memory per stage.

    python -m benchmarks.scale --data-dir /tmp/d10k [--workers 2] [--partitions 8]
                               [--hardships poverty ...] [--no-record]

Needs a data folder where `mimamori ingest`, `link` and `features` have run (the linked SQLite
store and features/). Each stage runs in a fresh process with a fresh local cluster of worker
processes (one thread each), so its wall time and peak memory are its own:

- features: `build_features` in process against `build_features_dask` written to parquet by
  the workers; the builder only, after the linked records are read (both read them alike).
- training: `train_all` in process against `train_all_on_dask`, for --hardships (default
  poverty), with the packaged config but leave-one-municipality-out off (extra evaluation fits
  that a national run would make on the cluster in the same way).
- scoring: the Dask-trained bundles over the latest month with and without the top three
  reasons, and over every month without them, against `score_partition` on one pandas frame
  (the engine's per-population arithmetic) in process.

Peak memory is the driver's peak RSS and, for Dask stages, the largest peak RSS of any worker
(read in the workers through `resource` before the cluster closes). The figures per child are
what docs/scale.md scales up.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any, Final

from benchmarks.common import append_results

STAGES: Final = (
    "features in process",
    "features on Dask",
    "training in process",
    "training on Dask",
    "scoring in process",
    "scoring on Dask",
)


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextmanager
def _cluster(workers: int) -> Iterator[Any]:
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        # A standing cluster has its libraries imported; a fresh one pays that on its first
        # task, which would be charged to whichever stage came first.
        client.run(_import_libraries)
        yield client


def _import_libraries() -> None:
    import importlib

    for name in ("lightgbm", "features.pointintime.builder", "service.scoring.distributed"):
        importlib.import_module(name)


def _worker_peak(client: Any) -> float:
    peaks = client.run(_peak_mib)
    return max(peaks.values()) if peaks else 0.0


def _database_url(data_dir: Path) -> str:
    from features.settings import get_settings

    return get_settings().database_url or f"sqlite:///{(data_dir / 'mimamori.db').resolve()}"


def _records(data_dir: Path) -> Any:
    from features.linkage.persisted import load_identity_map
    from features.store.database import make_engine
    from features.timeline.adapters import linked_records_from_store

    engine = make_engine(_database_url(data_dir))
    try:
        return linked_records_from_store(engine, load_identity_map(engine))
    finally:
        engine.dispose()


def _months(data_dir: Path) -> list[str]:
    import pyarrow.parquet as pq

    table = pq.read_table(data_dir / "features" / "features.parquet", columns=["as_of_month"])
    return sorted(set(table.column("as_of_month").to_pylist()))


def _config() -> Any:
    from training.config import load_training_config

    base = load_training_config()
    return base.model_copy(
        update={
            "evaluation": base.evaluation.model_copy(update={"leave_one_municipality_out": False})
        }
    )


def _timed(work: Callable[[], Any]) -> tuple[float, Any]:
    began = time.perf_counter()
    value = work()
    return time.perf_counter() - began, value


def run_stage(stage: str, data_dir: Path, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    """One stage in this process; returns its measurements (printed as JSON by the child)."""
    import pandas as pd

    months = _months(data_dir)
    store = data_dir / "features" / "features.parquet"
    result: dict[str, Any] = {"stage": stage}
    if stage.startswith("features"):
        from features.pointintime.builder import build_features
        from features.pointintime.distributed import build_features_dask

        records = _records(data_dir)
        if stage == "features in process":
            seconds, frame = _timed(lambda: build_features(records, months))
        else:
            with _cluster(args.workers) as client:
                seconds, _ = _timed(
                    lambda: build_features_dask(
                        records, months, partitions=args.partitions
                    ).to_parquet(work / "dask-features", write_index=False)
                )
                result["worker_mib"] = _worker_peak(client)
            frame = pd.read_parquet(work / "dask-features", columns=["person_id"])
        result["rows"] = len(frame)
        result["seconds"] = seconds
    elif stage.startswith("training"):
        from training.dask_train import train_all_on_dask
        from training.frame import load_training_frame
        from training.train import train_all

        frame = load_training_frame(data_dir / "features", _database_url(data_dir))
        tracking = f"sqlite:///{work / (stage.replace(' ', '-') + '.db')}"
        if stage == "training in process":
            seconds, report = _timed(
                lambda: train_all(frame, _config(), tracking, hardships=args.hardships)
            )
        else:
            with _cluster(args.workers) as client:
                seconds, report = _timed(
                    lambda: train_all_on_dask(
                        frame, _config(), tracking, hardships=args.hardships, client=client
                    )
                )
                result["worker_mib"] = _worker_peak(client)
            for hardship, fitted in report.results.items():
                fitted.bundle.save(work / "bundles" / hardship)
        result["seconds"] = seconds
        result["rows"] = len(frame)
        result["auc"] = {h: r.metrics.roc_auc for h, r in report.results.items()}
    else:
        from models.bundle import ModelBundle
        from service.scoring.distributed import (
            score_feature_store,
            score_partition,
            scoring_models,
        )

        bundles = {p.name: ModelBundle.load(p) for p in sorted((work / "bundles").iterdir())}
        models = scoring_models(bundles)
        latest = months[-1:]
        timings: dict[str, float] = {}
        rows: dict[str, int] = {}
        if stage == "scoring in process":
            frame = pd.read_parquet(store, filters=[("as_of_month", "in", latest)])
            timings["latest month"], _ = _timed(lambda: score_partition(frame, models))
            timings["latest month, top 3 reasons"], _ = _timed(
                lambda: score_partition(frame, models, explain_top_k=3)
            )
            rows = {label: len(frame) for label in timings}
        else:
            with _cluster(args.workers) as client:

                def score(wanted: list[str], top_k: int) -> Any:
                    return score_feature_store(
                        store,
                        wanted,
                        models,
                        client=client,
                        partitions=args.partitions,
                        explain_top_k=top_k,
                    ).compute()

                # The first call also reads the file's metadata and starts the workers' reading
                # path; it is shown apart so the per-row figures below are the marginal cost.
                for label, wanted, top_k in (
                    ("first call (latest month)", latest, 0),
                    ("latest month", latest, 0),
                    ("latest month, top 3 reasons", latest, 3),
                    ("every month", months, 0),
                ):
                    timings[label], scored = _timed(partial(score, wanted, top_k))
                    rows[label] = len(scored)
                result["worker_mib"] = _worker_peak(client)
        result["timings"] = timings
        result["timing_rows"] = rows
        result["rows"] = max(rows.values())
        result["seconds"] = sum(timings.values())
    result["driver_mib"] = _peak_mib()
    result["children"] = int(pd.read_parquet(store, columns=["person_id"])["person_id"].nunique())
    return result


def _child(stage: str, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    command = [
        sys.executable,
        "-m",
        "benchmarks.scale",
        "--data-dir",
        str(args.data_dir),
        "--workers",
        str(args.workers),
        "--partitions",
        str(args.partitions),
        "--hardships",
        *args.hardships,
        "--stage",
        stage,
        "--work",
        str(work),
    ]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return dict(json.loads(output.strip().splitlines()[-1]))


def _table(results: list[dict[str, Any]], args: argparse.Namespace) -> list[str]:
    children = results[0]["children"]
    lines = [
        f"Population: {children:,} children (`{args.data_dir.name}`); local cluster of "
        f"{args.workers} worker processes x 1 thread, {args.partitions} partitions; "
        f"training: {', '.join(args.hardships)} (packaged config, leave-one-municipality-out "
        "off).",
        "",
        "| stage | rows (child x month) | seconds | µs per row | driver peak (MiB) "
        "| worker peak (MiB) |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for result in results:
        timings = result.get("timings")
        if timings:
            parts = [
                (f"{result['stage']}: {k}", v, result["timing_rows"][k]) for k, v in timings.items()
            ]
        else:
            parts = [(result["stage"], result["seconds"], result["rows"])]
        for label, seconds, rows in parts:
            worker = result.get("worker_mib")
            lines.append(
                f"| {label} | {rows:,} | {seconds:.2f} | {1e6 * seconds / rows:.1f} | "
                f"{result['driver_mib']:.0f} | {'-' if worker is None else f'{worker:.0f}'} |"
            )
    aucs = [
        f"{r['stage']}: " + ", ".join(f"{h} {a:.3f}" for h, a in r["auc"].items())
        for r in results
        if "auc" in r
    ]
    lines += ["", "Test ROC AUC: " + "; ".join(aucs) + "."]
    lines += [
        "",
        "Features: every as-of month of the store; the builder only (records already read), "
        "the Dask stage including partitioning and writing parquet. Training rows: the whole "
        "training frame (each hardship's split uses part of it). Scoring: the Dask-trained "
        "bundles of the training stage, one column per hardship trained, read from the store "
        "with month filters. Worker libraries were imported before timing. Each stage ran in a "
        "fresh process and cluster on a machine shared with other jobs.",
    ]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--data-dir", type=Path, default=Path(os.environ.get("MIMAMORI_DATA_DIR", "var"))
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--hardships", nargs="+", default=["poverty"])
    parser.add_argument("--no-record", action="store_true", help="print only")
    parser.add_argument("--stage", choices=STAGES, help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    if args.stage is not None:
        print(json.dumps(run_stage(args.stage, args.data_dir, args.work, args)))
        return
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as folder:
        for stage in STAGES:
            results.append(_child(stage, args, Path(folder)))
            print(json.dumps(results[-1]), flush=True)
    lines = _table(results, args)
    print("\n".join(lines))
    if not args.no_record:
        append_results("Dask paths against in-process, per stage", lines, "benchmarks.scale")


if __name__ == "__main__":
    main()
