"""Each pipeline stage on one population, in fresh processes: time and peak memory.

Shows how cost grows with size (run it with --children 10000 and 100000). Targets: the feature
store for 100k children x 48 months in under 3 minutes within 8 GB (issue 4); ingest and link of
the default population in under 3 minutes (issue 3).
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from benchmarks.common import Measurement, append_results, mimamori, run_measured


def measure(children: int, data_dir: Path) -> list[Measurement]:
    common = ["--data-dir", str(data_dir)]
    steps = [
        ("synth", ["synth", "--profile", "default", "--children", str(children), "--force"]),
        ("ingest", ["ingest"]),
        ("link", ["link"]),
        ("features (48 as-of months)", ["features", "--from", "2022-04", "--to", "2026-03"]),
    ]
    return [
        run_measured(f"{label}, {children:,} children", [mimamori(), *args, *common])
        for label, args in steps
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--children", type=int, nargs="+", default=[10_000, 100_000])
    args = parser.parse_args()
    lines = [
        "| stage | median seconds | peak memory (MiB) |",
        "| --- | ---: | ---: |",
    ]
    for children in args.children:
        with tempfile.TemporaryDirectory() as folder:
            env_key = "MIMAMORI_DATABASE_URL"
            os.environ.pop(env_key, None)
            for measurement in measure(children, Path(folder)):
                lines.append(
                    f"| {measurement.label} | {measurement.median:.1f} | "
                    f"{measurement.peak_rss_mib:.0f} |"
                )
                print(lines[-1], flush=True)
    lines.append("")
    lines.append("One run per stage, SQLite store, each stage in a fresh process.")
    append_results("Pipeline stages by population size", lines, "benchmarks.pipeline")


if __name__ == "__main__":
    main()
