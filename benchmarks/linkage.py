"""Record linkage on a synthetic population: Mimamori against an NFKC-only baseline.

    python -m benchmarks.linkage --profile demo [--data-dir var/bench-demo]

Generates the population (or reuses the one in --data-dir), ingests it into a fresh SQLite
store, then links it twice from that store: with Mimamori (`run_linkage`, which also stores its
output) and with the same model fed NFKC-only comparison keys (`baseline.nfkc_only_keys`, not
stored). Both are scored pairwise against ground_truth/id_map.parquet. Every step runs in a
fresh process, so its peak resident memory (getrusage maxrss) is its own.
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, Final

import pandas as pd

from benchmarks.common import append_results

# The ground truth files one ID space for both 母子保健 numbers (M... mothers, C... children).
_TRUTH_KINDS: Final = {
    "atena": "atena",
    "pupil": "pupil",
    "maternal_record": "boshi",
    "child_record": "boshi",
}


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _ingest(data_dir: str, database: str) -> dict[str, Any]:
    from features.ingest.run import ingest_extracts
    from features.store.database import make_engine
    from features.store.migrate import upgrade

    began = time.perf_counter()
    engine = make_engine(f"sqlite:///{database}")
    upgrade(engine)
    report = ingest_extracts(Path(data_dir) / "extracts", engine)
    engine.dispose()
    return {
        "seconds": time.perf_counter() - began,
        "peak_mib": _peak_mib(),
        "rows_loaded": report.rows_loaded,
        "rows_quarantined": report.rows_quarantined,
    }


def _key() -> bytes:
    from features.settings import get_settings

    return get_settings().pseudonym_key.get_secret_value().encode()


def _mimamori(data_dir: str, database: str) -> dict[str, Any]:
    from features.linkage.run import run_linkage
    from features.store.database import make_engine

    began = time.perf_counter()
    engine = make_engine(f"sqlite:///{database}")
    result = run_linkage(engine, key=_key(), extracts_root=Path(data_dir) / "extracts")
    engine.dispose()
    return {
        "seconds": time.perf_counter() - began,
        "peak_mib": _peak_mib(),
        "mapping": result.mapping[["record_key", "person_id"]],
        "persons": result.report.persons,
        "review_queue": result.report.review_queue,
        "trained": result.report.trained,
    }


def _baseline(data_dir: str, database: str) -> dict[str, Any]:
    del data_dir  # the baseline ignores the 外字 maps on purpose
    from features.linkage.baseline import nfkc_only_keys
    from features.linkage.link import link_records
    from features.linkage.store_adapter import identity_records_from_store
    from features.store.database import make_engine

    began = time.perf_counter()
    engine = make_engine(f"sqlite:///{database}")
    records = identity_records_from_store(engine)
    engine.dispose()
    result = link_records(records, key=_key(), key_builder=nfkc_only_keys)
    return {
        "seconds": time.perf_counter() - began,
        "peak_mib": _peak_mib(),
        "mapping": result.mapping[["record_key", "person_id"]],
        "persons": result.report.persons,
        "review_queue": result.report.review_queue,
        "trained": result.report.trained,
    }


def _in_fresh_process(
    step: Callable[[str, str], dict[str, Any]], data_dir: Path, database: Path
) -> dict[str, Any]:
    # spawn, not fork: a forked child would start with this process's peak memory.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(step, str(data_dir), str(database)).result()


def truth_of(mapping: pd.DataFrame, id_map: pd.DataFrame) -> pd.DataFrame:
    """record_key -> true_person for the records the ground truth knows."""
    parts = mapping["record_key"].str.split(":", n=3, expand=True)
    keyed = pd.DataFrame(
        {
            "record_key": mapping["record_key"],
            "municipality": parts[0],
            "id_kind": parts[2].map(_TRUTH_KINDS),
            "id_value": parts[3],
        }
    )
    truth = id_map.rename(columns={"person_id": "true_person"})
    truth = truth.drop_duplicates(["id_kind", "municipality", "id_value"])
    joined = keyed.merge(truth, on=["id_kind", "municipality", "id_value"], how="inner")
    return joined[["record_key", "true_person"]]


def _prepare(profile: str, data_dir: Path | None) -> tuple[Path, float | None]:
    if data_dir is not None and (data_dir / "extracts" / "manifest.json").is_file():
        return data_dir, None
    from synthetic.generator import generate
    from synthetic.profiles import resolve_profile

    target = data_dir or Path(tempfile.mkdtemp(prefix=f"mimamori-bench-{profile}-"))
    began = time.perf_counter()
    generate(resolve_profile(profile), target, overwrite=True)
    return target, time.perf_counter() - began


def main() -> None:
    from features.linkage.evaluate import pairwise_metrics

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--profile", choices=["tiny", "demo", "default"], default="demo")
    parser.add_argument(
        "--data-dir", type=Path, default=None, help="reuse (or generate into) this folder"
    )
    parser.add_argument(
        "--no-append", action="store_true", help="print the table, leave docs/benchmarks.md alone"
    )
    args = parser.parse_args()

    data_dir, generated = _prepare(args.profile, args.data_dir)
    print(f"population in {data_dir}" + (f" (generated in {generated:.0f} s)" if generated else ""))
    database = data_dir / "bench-linkage.db"
    for stale in data_dir.glob("bench-linkage.db*"):
        stale.unlink()

    ingest = _in_fresh_process(_ingest, data_dir, database)
    print(f"ingest: {ingest['seconds']:.1f} s, {ingest['rows_loaded']:,} rows")
    ours = _in_fresh_process(_mimamori, data_dir, database)
    print(f"Mimamori linkage: {ours['seconds']:.1f} s")
    baseline = _in_fresh_process(_baseline, data_dir, database)
    print(f"NFKC-only baseline: {baseline['seconds']:.1f} s")

    id_map = pd.read_parquet(data_dir / "ground_truth" / "id_map.parquet")
    truth = truth_of(ours["mapping"], id_map)
    scores = {
        "Mimamori": pairwise_metrics(ours["mapping"], truth),
        "NFKC-only baseline": pairwise_metrics(baseline["mapping"], truth),
    }
    records = len(ours["mapping"])
    lines = [
        f"Profile `{args.profile}`: {records:,} identity records from "
        f"{ingest['rows_loaded']:,} ingested rows ({ingest['rows_quarantined']:,} quarantined); "
        f"{len(truth):,} records matched to a true person.",
        "",
        "| step | seconds | peak memory (MiB) |",
        "| --- | ---: | ---: |",
        f"| ingest into SQLite | {ingest['seconds']:.1f} | {ingest['peak_mib']:.0f} |",
        f"| Mimamori: read store, link, store output | {ours['seconds']:.1f} "
        f"| {ours['peak_mib']:.0f} |",
        f"| NFKC-only baseline: read store, link | {baseline['seconds']:.1f} "
        f"| {baseline['peak_mib']:.0f} |",
        "",
        "| linkage | precision | recall | F1 | persons | review queue |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for label, run in (("Mimamori", ours), ("NFKC-only baseline", baseline)):
        score = scores[label]
        lines.append(
            f"| {label} | {score.precision:.4f} | {score.recall:.4f} | {score.f1:.4f} "
            f"| {run['persons']:,} | {run['review_queue']:,} |"
        )
    lines += [
        "",
        f"Pairwise scores over {scores['Mimamori'].true_pairs:,} true pairs; pending review pairs "
        "count as not linked. Trained on this population: "
        f"{'yes' if ours['trained'] else 'no (prior parameters)'}.",
    ]
    if not args.no_append:
        append_results(
            f"Record linkage (`mimamori link`), {args.profile} profile", lines, "benchmarks.linkage"
        )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
