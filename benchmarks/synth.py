"""How long the synthetic population takes to generate, and how that grows with size.

Target (issue 2): the default profile (100,000 children) in under 3 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import tempfile

from benchmarks.common import Measurement, append_results, mimamori, run_measured

SIZES = {"tiny": ("tiny", None, 3), "demo": ("demo", None, 1), "default": ("default", None, 1)}


def measure(profiles: list[str]) -> list[Measurement]:
    results = []
    for name in profiles:
        profile, children, repeats = SIZES[name]
        with tempfile.TemporaryDirectory() as folder:
            command = [mimamori(), "synth", "--profile", profile, "--data-dir", folder, "--force"]
            if children:
                command += ["--children", str(children)]
            results.append(run_measured(f"synth {name}", command, repeats))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--profiles", nargs="+", default=["tiny", "demo", "default"])
    args = parser.parse_args()
    results = measure(args.profiles)
    lines = [
        "| step | runs | median seconds | peak memory (MiB) |",
        "| --- | ---: | ---: | ---: |",
    ]
    lines += [
        f"| {m.label} | {len(m.seconds)} | {m.median:.1f} | {m.peak_rss_mib:.0f} |" for m in results
    ]
    lines.append("")
    lines.append("Target: default profile under 180 s on 2 cores.")
    append_results("Synthetic population (`mimamori synth`)", lines, "benchmarks.synth")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
