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
import json
import os
import re
import subprocess
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.common import RESULTS, Measurement, append_results, mimamori, run_measured

PLOT = RESULTS.with_name("benchmarks-growth.png")
# Every size's latest points, so a run of some sizes (300k takes most of an hour) redraws the
# plot with the others' last measured points instead of dropping them.
POINTS = RESULTS.with_name("benchmarks-growth.json")
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
            run_measured(
                f"{label}, {children:,} children",
                [mimamori(), *args, *common],
                allow_failure=True,
            )
        )
        print(f"{results[-1].label}: {results[-1].median:.1f} s", flush=True)
        if results[-1].failed is not None:
            # Later stages need this one's output; the failure itself is the measurement.
            break
    return results


def failure_text(status: int) -> str:
    if status == -9:
        return "killed by SIGKILL, as the out-of-memory killer does"
    return f"killed by signal {-status}" if status < 0 else f"failed, exit {status}"


def load_points(path: Path = POINTS) -> dict[str, dict[str, object]]:
    return json.loads(path.read_text()) if path.exists() else {}


def merge_points(
    points: dict[str, dict[str, object]], rows: Sequence[tuple[int, str, float, float, int | None]]
) -> dict[str, dict[str, object]]:
    """This run's points replace the stored ones for the same size and stage."""
    measured = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    merged = dict(points)
    for children, stage, seconds, peak, failed in rows:
        merged[f"{children}/{stage}"] = {
            "children": children,
            "stage": stage,
            "seconds": round(seconds, 1),
            "peak_mib": round(peak),
            "failed": failed,
            "measured": measured,
        }
    return dict(sorted(merged.items(), key=lambda kv: (kv[1]["children"], str(kv[1]["stage"]))))


def plot(points: dict[str, dict[str, object]], path: Path) -> Path:
    """Seconds and peak memory against children, log-log, one line per stage.

    A failed stage (out of memory, say) is drawn as a cross at the point it failed.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (time_axis, memory_axis) = plt.subplots(1, 2, figsize=(11, 4.2))
    for stage in STAGES:
        at = sorted(
            (int(str(p["children"])), float(str(p["seconds"])), float(str(p["peak_mib"])), p)
            for p in points.values()
            if p["stage"] == stage
        )
        done = [(c, s, m) for c, s, m, p in at if p["failed"] is None]
        failed = [(c, s, m) for c, s, m, p in at if p["failed"] is not None]
        colour = None
        if done:
            (line,) = time_axis.plot([d[0] for d in done], [d[1] for d in done], "o-", label=stage)
            colour = line.get_color()
            memory_axis.plot([d[0] for d in done], [d[2] for d in done], "o-", color=colour)
        if failed:
            time_axis.scatter(
                [f[0] for f in failed],
                [f[1] for f in failed],
                marker="x",
                s=60,
                color=colour,
                label=f"{stage} (failed)",
            )
            memory_axis.scatter(
                [f[0] for f in failed], [f[2] for f in failed], marker="x", s=60, color=colour
            )
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
    rows: list[tuple[int, str, float, float, int | None]] = []
    for children in args.children:
        with tempfile.TemporaryDirectory() as folder:
            for env_key in ("MIMAMORI_DATABASE_URL", "MIMAMORI_MLFLOW_TRACKING_URI"):
                os.environ.pop(env_key, None)
            for measurement in measure(children, Path(folder), args.stages):
                stage = re.sub(r",.*", "", measurement.label)
                rows.append(
                    (
                        children,
                        stage,
                        measurement.median,
                        measurement.peak_rss_mib,
                        measurement.failed,
                    )
                )
                outcome = (
                    ""
                    if measurement.failed is None
                    else f" ({failure_text(measurement.failed)} after this long)"
                )
                lines.append(
                    f"| {measurement.label}{outcome} | {measurement.median:.1f} | "
                    f"{measurement.peak_rss_mib:.0f} |"
                )
                print(lines[-1], flush=True)
    lines += [
        "",
        "One run per stage, SQLite store, each stage in a fresh process; `train` trains, "
        "calibrates, audits and registers all five hardships; `score` is the batch run of "
        "2026-03 with bands, reasons and drift. A failed stage ends its size's run (the stages "
        "after it need its output).",
        "",
        f"The plot draws every size's latest points ({POINTS.name}); a cross marks a stage that "
        "failed at that size.",
        "",
        f"![growth]({PLOT.name})",
    ]
    if args.no_record:
        print("\n".join(lines))
        return
    points = merge_points(load_points(), rows)
    POINTS.write_text(json.dumps(points, indent=1, ensure_ascii=False) + "\n")
    plot(points, PLOT)
    append_results("Pipeline stages by population size", lines, "benchmarks.pipeline")


if __name__ == "__main__":
    main()
