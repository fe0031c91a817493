"""Each stage on populations of growing size, in fresh processes: time, peak memory, a plot.

Shows how cost grows with size (default 10k, 30k, 100k and 300k children; the default profile's
municipalities scaled). Stages: synth, ingest, link, features (48 as-of months), train (five
hardships), promote (not timed: gates only) and a batch score run of the last month. Targets
checked elsewhere: features for 100k x 48 months under 3 minutes within 8 GB (issue 4), ingest
and link of the default population under 3 minutes (issue 3), training under 10 minutes
(issue 5). The growth plot is written beside the table as docs/benchmarks-growth.png.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from benchmarks.common import RESULTS, Measurement, append_results, mimamori, run_measured

PLOT = RESULTS.with_name("benchmarks-growth.png")
STAGES = ("synth", "ingest", "link", "features", "train", "score")


def measure(children: int, data_dir: Path, stages: Sequence[str] = STAGES) -> list[Measurement]:
    common = ["--data-dir", str(data_dir)]
    steps = [
        ("synth", ["synth", "--profile", "default", "--children", str(children), "--force"]),
        ("ingest", ["ingest"]),
        ("link", ["link"]),
        ("features", ["features", "--from", "2022-04", "--to", "2026-03"]),
        ("train", ["train"]),
        ("promote", ["promote"]),
        ("score", ["score", "--as-of", "2026-03"]),
    ]
    results = []
    for label, args in steps:
        if label not in stages and not (label == "promote" and "score" in stages):
            continue
        if label == "promote":
            # Gates, not work: a hardship whose challenger misses them is simply not scored.
            subprocess.run([mimamori(), *args, *common], check=True, stdout=subprocess.DEVNULL)
            continue
        results.append(
            run_measured(f"{label}, {children:,} children", [mimamori(), *args, *common])
        )
        print(f"{results[-1].label}: {results[-1].median:.1f} s", flush=True)
    return results


def plot(rows: Sequence[tuple[int, str, float, float]], path: Path) -> Path:
    """Seconds and peak memory against children, log-log, one line per stage."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (time_axis, memory_axis) = plt.subplots(1, 2, figsize=(11, 4.2))
    for stage in STAGES:
        points = sorted((c, s, m) for c, name, s, m in rows if name == stage)
        if not points:
            continue
        sizes = [p[0] for p in points]
        time_axis.plot(sizes, [p[1] for p in points], marker="o", label=stage)
        memory_axis.plot(sizes, [p[2] for p in points], marker="o", label=stage)
    for axis, title, unit in (
        (time_axis, "wall time", "seconds"),
        (memory_axis, "peak memory", "MiB"),
    ):
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_xlabel("children")
        axis.set_ylabel(unit)
        axis.set_title(title)
        axis.grid(True, which="both", alpha=0.3)
    time_axis.legend(fontsize=8)
    figure.suptitle("Mimamori pipeline: cost by population size (2 cores)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--children", type=int, nargs="+", default=[10_000, 30_000, 100_000, 300_000]
    )
    parser.add_argument(
        "--stages",
        nargs="+",
        choices=STAGES,
        default=list(STAGES),
        help="Stages to time, in pipeline order (each needs the ones before it).",
    )
    parser.add_argument("--no-record", action="store_true", help="Print only.")
    args = parser.parse_args(argv)
    lines = [
        "| stage | median seconds | peak memory (MiB) |",
        "| --- | ---: | ---: |",
    ]
    rows: list[tuple[int, str, float, float]] = []
    for children in args.children:
        with tempfile.TemporaryDirectory() as folder:
            for env_key in ("MIMAMORI_DATABASE_URL", "MIMAMORI_MLFLOW_TRACKING_URI"):
                os.environ.pop(env_key, None)
            for measurement in measure(children, Path(folder), args.stages):
                stage = re.sub(r",.*", "", measurement.label)
                rows.append((children, stage, measurement.median, measurement.peak_rss_mib))
                lines.append(
                    f"| {measurement.label} | {measurement.median:.1f} | "
                    f"{measurement.peak_rss_mib:.0f} |"
                )
                print(lines[-1], flush=True)
    lines += [
        "",
        "One run per stage, SQLite store, each stage in a fresh process; `train` trains, "
        "calibrates, audits and registers all five hardships; `score` is the batch run of "
        "2026-03 with bands, reasons and drift.",
        "",
        f"![growth]({PLOT.name})",
    ]
    if args.no_record:
        print("\n".join(lines))
        return
    plot(rows, PLOT)
    append_results("Pipeline stages by population size", lines, "benchmarks.pipeline")


if __name__ == "__main__":
    main()
